import java.util.ArrayList;
import java.util.List;

public class Solution {
    /** The k-th smallest element (0-based) of a list of distinct ints, by quickselect. */
    public static int kth(List<Integer> arr, int k) {
        int pivot = arr.get(0);
        List<Integer> below = new ArrayList<>();
        List<Integer> above = new ArrayList<>();
        for (int x : arr) {
            if (x < pivot) {
                below.add(x);
            } else if (x > pivot) {
                above.add(x);
            }
        }
        int numLess = below.size();
        int numLessOrEq = arr.size() - above.size();
        if (k < numLess) {
            return kth(below, k);
        } else if (k >= numLessOrEq) {
            return kth(above, k - numLessOrEq);
        }
        return pivot;
    }
}
