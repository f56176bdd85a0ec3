import java.util.Arrays;

public class Main {
    static int failed = 0;
    static void check(int got, int want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        Integer[] xs = {9, 3, 7, 1, 8, 2, 6, 5};
        Integer[] sorted = xs.clone();
        Arrays.sort(sorted);
        for (int k = 0; k < xs.length; k++) {
            try {
                check(Solution.kth(Arrays.asList(xs), k), sorted[k], "kth k=" + k);
            } catch (RuntimeException e) {
                failed++;
                System.out.println("FAIL kth k=" + k + ": " + e);
            }
        }
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
