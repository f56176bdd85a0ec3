public class Main {
    static int failed = 0;
    static void check(boolean got, boolean want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        check(Solution.isPalindrome("A man, a plan, a canal: Panama"), true, "panama");
        check(Solution.isPalindrome("race a car"), false, "race a car");
        check(Solution.isPalindrome(""), true, "empty");
        check(Solution.isPalindrome("ab"), false, "ab");
        check(Solution.isPalindrome("aba"), true, "aba");
        check(Solution.isPalindrome("No 'x' in Nixon"), true, "nixon");
        check(Solution.isPalindrome("abca"), false, "abca");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
