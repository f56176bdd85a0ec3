public class Solution {
    /** Greatest common divisor of two non-negative integers (Euclid). */
    public static int gcd(int a, int b) {
        while (b != 0) {
            int t = a % b;
            a = b;
            b = t;
        }
        return a;
    }
}
