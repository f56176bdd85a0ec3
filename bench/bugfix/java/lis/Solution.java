public class Solution {
    /** Length of the longest strictly increasing subsequence (O(n^2) dynamic programming). */
    public static int lis(int[] arr) {
        int[] len = new int[arr.length];
        int best = 0;
        for (int i = 0; i < arr.length; i++) {
            len[i] = 1;
            for (int j = 0; j < i; j++) {
                if (arr[j] < arr[i] && len[j] + 1 > len[i]) {
                    len[i] = len[j] + 1;
                }
            }
            best = Math.max(best, len[i]);
        }
        return best;
    }
}
