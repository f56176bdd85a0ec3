public class Main {
    static int failed = 0;
    static void check(int got, int want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        int[] xs = {0, 1, 2, 3, 7, 8, 127, 128, 255, 1023, 12345, 2147483647};
        for (int x : xs) check(Solution.bitcount(x), Integer.bitCount(x), "bitcount(" + x + ")");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
