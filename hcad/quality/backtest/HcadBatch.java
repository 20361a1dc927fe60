// One entity's whole backtest in one Java call (hcad.quality.backtest.engine), compiled at run time
// by hcad.quality.backtest.jvm against the RCF jars. It does what engine.run_entity's reference path
// does per point, without a Python call per point: processSequentially for a gapless entity,
// process(values[i], timestamps[i], missing) per row otherwise, and records each descriptor into
// primitive arrays that JPype hands to numpy in one copy each.
package hcadbatch;

import com.amazon.randomcutforest.parkservices.AnomalyDescriptor;
import com.amazon.randomcutforest.parkservices.ThresholdedRandomCutForest;

public final class HcadBatch {
    /** Points and features. */
    public final int n, nf;
    /** Raw anomaly grade (before max(0, g) and the direction rules, which Python applies). */
    public final double[] grade;
    public final double[] score;
    /** Data confidence capped at 1, as min(1.0, c) in Python. */
    public final double[] confidence;
    public final double[] threshold;
    /** Relative index of the anomaly start; 0 where grade <= 0. */
    public final int[] relative;
    /** n x nf row-major: the last expected-values row where grade > 0, else NaN. */
    public final double[] expected;
    /** n x nf: the past values where grade > 0, relative < 0 and there are nf of them, else NaN. */
    public final double[] past;
    /** n x nf: the relevant attribution where grade > 0 and it has nf entries, else NaN. */
    public final double[] attribution;
    /** Per point: 1 when past (resp. attribution) was recorded. */
    public final byte[] hasPast, hasAttribution;
    /** Per point: the ordinal of RCF's CorrectionMode (NONE, or the correction that zeroed the grade). */
    public final byte[] correction;

    private int pos;

    private HcadBatch(int n, int nf) {
        this.n = n;
        this.nf = nf;
        grade = new double[n];
        score = new double[n];
        confidence = new double[n];
        threshold = new double[n];
        relative = new int[n];
        expected = nans(n * nf);
        past = nans(n * nf);
        attribution = nans(n * nf);
        hasPast = new byte[n];
        hasAttribution = new byte[n];
        correction = new byte[n];
    }

    private static double[] nans(int size) {
        double[] a = new double[size];
        java.util.Arrays.fill(a, Double.NaN);
        return a;
    }

    /**
     * Score every row of one entity. {@code timestamps} are the data end times in epoch seconds
     * (read only when not sequential); a row's missing indices are its NaN entries (null when none),
     * as the Python reference passes them.
     */
    public static HcadBatch run(ThresholdedRandomCutForest trcf, double[][] values, long[] timestamps,
            boolean sequential) {
        int n = values.length;
        int nf = n == 0 ? 0 : values[0].length;
        HcadBatch out = new HcadBatch(n, nf);
        if (n == 0) {
            return out;
        }
        if (sequential) {
            trcf.processSequentially(values, d -> {
                out.record(d);
                return Boolean.FALSE;
            });
        } else {
            if (timestamps.length != n) {
                throw new IllegalArgumentException(n + " rows but " + timestamps.length + " timestamps");
            }
            for (int i = 0; i < n; i++) {
                out.record(trcf.process(values[i], timestamps[i], missing(values[i])));
            }
        }
        if (out.pos != n) {
            throw new IllegalStateException(n + " rows but " + out.pos + " descriptors");
        }
        return out;
    }

    private static int[] missing(double[] row) {
        int count = 0;
        for (double v : row) {
            if (Double.isNaN(v)) {
                count++;
            }
        }
        if (count == 0) {
            return null;
        }
        int[] idx = new int[count];
        int k = 0;
        for (int j = 0; j < row.length; j++) {
            if (Double.isNaN(row[j])) {
                idx[k++] = j;
            }
        }
        return idx;
    }

    private void record(AnomalyDescriptor d) {
        int i = pos++;
        double g = d.getAnomalyGrade();
        grade[i] = g;
        score[i] = d.getRCFScore();
        double c = d.getDataConfidence();
        confidence[i] = c < 1.0 ? c : 1.0; // Python's min(1.0, c), NaN included
        threshold[i] = d.getThreshold();
        correction[i] = (byte) d.getCorrectionMode().ordinal();
        if (!(g > 0)) {
            return;
        }
        int rel = d.getRelativeIndex();
        relative[i] = rel;
        double[][] exp = d.getExpectedValuesList();
        if (exp != null && exp.length > 0) {
            copyRow(exp[exp.length - 1], expected, i, "expected values");
        }
        double[] pv = d.getPastValues();
        if (pv != null && rel < 0 && pv.length == nf) {
            copyRow(pv, past, i, "past values");
            hasPast[i] = 1;
        }
        double[] attr = d.getRelevantAttribution();
        if (attr != null && attr.length == nf) {
            copyRow(attr, attribution, i, "attribution");
            hasAttribution[i] = 1;
        }
    }

    private void copyRow(double[] row, double[] into, int i, String what) {
        if (row.length != nf) {
            throw new IllegalStateException(what + " has " + row.length + " entries, expected " + nf);
        }
        System.arraycopy(row, 0, into, i * nf, nf);
    }
}
