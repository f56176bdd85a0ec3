public class Main {
    static int failed = 0;
    static void check(int got, int want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        int[] a = {1, 3, 5, 7, 9, 11, 13};
        for (int i = 0; i < a.length; i++) check(Solution.find(a, a[i]), i, "find " + a[i]);
        check(Solution.find(a, 0), -1, "find 0");
        check(Solution.find(a, 4), -1, "find 4");
        check(Solution.find(a, 14), -1, "find 14");
        check(Solution.find(new int[0], 1), -1, "find in empty");
        check(Solution.find(new int[]{2}, 2), 0, "find in one");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
