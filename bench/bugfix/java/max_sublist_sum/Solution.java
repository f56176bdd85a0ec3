public class Solution {
    /** Largest sum of a contiguous (possibly empty) sub-array (Kadane). */
    public static int maxSublistSum(int[] arr) {
        int best = 0;
        int current = 0;
        for (int x : arr) {
            current = Math.max(0, current + x);
            best = Math.max(best, current);
        }
        return best;
    }
}
