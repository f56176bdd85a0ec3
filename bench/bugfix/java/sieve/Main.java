import java.util.List;

public class Main {
    static int failed = 0;
    static void check(List<Integer> got, String want, String what) {
        if (!got.toString().equals(want)) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        check(Solution.primes(1), "[]", "primes(1)");
        check(Solution.primes(2), "[2]", "primes(2)");
        check(Solution.primes(10), "[2, 3, 5, 7]", "primes(10)");
        check(Solution.primes(30), "[2, 3, 5, 7, 11, 13, 17, 19, 23, 29]", "primes(30)");
        check(Solution.primes(49), "[2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]", "primes(49)");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
