import java.util.ArrayList;
import java.util.List;

public class Solution {
    /** All primes up to and including max. */
    public static List<Integer> primes(int max) {
        boolean[] composite = new boolean[max + 1];
        List<Integer> out = new ArrayList<>();
        for (int n = 2; n <= max; n++) {
            if (!composite[n]) {
                out.add(n);
                for (long m = (long) n * n; m <= max; m += n) {
                    composite[(int) m] = true;
                }
            }
        }
        return out;
    }
}
