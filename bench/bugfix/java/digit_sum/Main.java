public class Main {
    static int failed = 0;
    static void check(int got, int want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        check(Solution.digitSum(0, 10), 0, "0");
        check(Solution.digitSum(12345, 10), 15, "12345");
        check(Solution.digitSum(255, 16), 30, "ff");
        check(Solution.digitSum(8, 2), 1, "1000b");
        check(Solution.digitSum(7, 2), 3, "111b");
        check(Solution.digitSum(99, 10), 18, "99");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
