public class Main {
    static int failed = 0;
    static void check(int got, int want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        check(Solution.lis(new int[]{}), 0, "empty");
        check(Solution.lis(new int[]{3}), 1, "one");
        check(Solution.lis(new int[]{10, 9, 2, 5, 3, 7, 101, 18}), 4, "classic");
        check(Solution.lis(new int[]{4, 4, 4}), 1, "equal");
        check(Solution.lis(new int[]{1, 2, 3, 4, 5}), 5, "sorted");
        check(Solution.lis(new int[]{5, 4, 3, 2, 1}), 1, "reversed");
        check(Solution.lis(new int[]{0, 8, 4, 12, 2, 10, 6, 14, 1, 9}), 4, "mixed");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
