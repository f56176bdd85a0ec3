public class Main {
    static int failed = 0;
    static void check(int got, int want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        check(Solution.maxSublistSum(new int[]{4, -5, 2, 1, -1, 3}), 5, "mixed");
        check(Solution.maxSublistSum(new int[]{-1, -2, -3}), 0, "all negative");
        check(Solution.maxSublistSum(new int[]{1, 2, 3}), 6, "all positive");
        check(Solution.maxSublistSum(new int[]{}), 0, "empty");
        check(Solution.maxSublistSum(new int[]{-2, 1, -3, 4, -1, 2, 1, -5, 4}), 6, "classic");
        check(Solution.maxSublistSum(new int[]{5, -10, 5}), 5, "split");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
