public class Main {
    static int failed = 0;
    static void check(int got, int want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        check(Solution.gcd(12, 18), 6, "gcd(12,18)");
        check(Solution.gcd(17, 5), 1, "gcd(17,5)");
        check(Solution.gcd(0, 9), 9, "gcd(0,9)");
        check(Solution.gcd(9, 0), 9, "gcd(9,0)");
        check(Solution.gcd(100, 75), 25, "gcd(100,75)");
        check(Solution.gcd(35, 64), 1, "gcd(35,64)");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
