public class Solution {
    /** Sum of the digits of n in base b (n >= 0, b >= 2). */
    public static int digitSum(int n, int b) {
        int sum = 0;
        while (n > 0) {
            sum += n % b;
            n = n / b;
        }
        return sum;
    }
}
