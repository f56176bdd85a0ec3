public class Solution {
    /** Number of 1 bits in a non-negative int (Kernighan's trick). */
    public static int bitcount(int n) {
        int count = 0;
        while (n != 0) {
            n = n & (n - 1);
            count++;
        }
        return count;
    }
}
