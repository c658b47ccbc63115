/* The blocked gradient's sum of weighted squared norms ||X b_l||^2, with
 * X = inv(L11) lower triangular (see _gradient.level_normsq).
 *
 * Storage: X column-major with leading dimension ldx (only its lower
 * triangle is read); the level entries level-major (ptr, idx ascending
 * within a level, val one value per entry); panel scratch of
 * MIXEDLM_NORMSQ_ROWS * m doubles, given by the caller.
 *
 * The inner loop is a short axpy over a block of MIXEDLM_NORMSQ_ROWS rows.
 * With GCC on x86-64 glibc Linux the function is compiled twice, for
 * x86-64-v3 (AVX2) and for the baseline, and the loader picks one for the
 * CPU it runs on (an ifunc; musl has none). Elsewhere it is compiled once.
 * The build is ISO C (-std=c11), which turns off contraction into FMA, so
 * both versions round alike and give the same bits.
 */
#ifndef MIXEDLM_NORMSQ_H
#define MIXEDLM_NORMSQ_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && __GNUC__ >= 12
#define MIXEDLM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MIXEDLM_CLONES
#endif

#define MIXEDLM_NORMSQ_ROWS 32

/* Returns the sum. Also writes diag[c] = ||X[c:m, c]||^2 (the diagonal of
 * X'X), summed over the same blocks as they are packed, so that X is read
 * once. The panel holds a block's rows of columns 0..r1-1 packed, column j
 * at panel + j * ROWS, so that the block is one contiguous stretch (strided,
 * its columns sit in as many pages as there are columns). */
MIXEDLM_CLONES
static double mixedlm_level_normsq(int64_t nl, const int64_t* ptr, const int32_t* idx,
                                   const double* val, const double* wl,
                                   const double* rscale, const double* X, int64_t ldx,
                                   int64_t m, double* diag, double* panel)
{
    double acc[MIXEDLM_NORMSQ_ROWS];
    double total = 0.0;
    for (int64_t c = 0; c < m; c++)
        diag[c] = 0.0;
    for (int64_t r0 = 0; r0 < m; r0 += MIXEDLM_NORMSQ_ROWS) {
        int64_t r1 = r0 + MIXEDLM_NORMSQ_ROWS < m ? r0 + MIXEDLM_NORMSQ_ROWS : m;
        int64_t nb = r1 - r0;
        for (int64_t j = 0; j < r1; j++) {
            /* rows below the diagonal only: X is lower triangular */
            int64_t i0 = j > r0 ? j - r0 : 0;
            memcpy(panel + j * MIXEDLM_NORMSQ_ROWS + i0, X + j * ldx + r0 + i0,
                   sizeof(double) * (size_t)(nb - i0));
            const double* packed = panel + j * MIXEDLM_NORMSQ_ROWS;
            double d = 0.0;
            for (int64_t i = i0; i < nb; i++)
                d += packed[i] * packed[i];
            diag[j] += d;
            /* a last, shorter block: the constant-length loop reads its tail */
            if (nb < MIXEDLM_NORMSQ_ROWS)
                memset(panel + j * MIXEDLM_NORMSQ_ROWS + nb, 0,
                       sizeof(double) * (size_t)(MIXEDLM_NORMSQ_ROWS - nb));
        }
        for (int64_t l = 0; l < nl; l++) {
            int64_t a = ptr[l], end = ptr[l + 1];
            if (a == end || idx[a] >= r1)
                continue;
            /* the whole block is summed below, in a fixed order of 8 lanes
             * (one add chain would be latency-bound); rows no entry reaches
             * stay 0 */
            memset(acc, 0, sizeof(acc));
            /* entries left of the block (j < r0) reach every row of it: a
             * loop of constant length, whose accumulators can stay in registers */
            for (; a < end && idx[a] < r0; a++) {
                double coef = val[a] * rscale[idx[a]];
                const double* xcol = panel + (int64_t)idx[a] * MIXEDLM_NORMSQ_ROWS;
                for (int64_t i = 0; i < MIXEDLM_NORMSQ_ROWS; i++)
                    acc[i] += coef * xcol[i];
            }
            for (; a < end && idx[a] < r1; a++) {
                int64_t j = idx[a];
                double coef = val[a] * rscale[j];
                int64_t i0 = j > r0 ? j - r0 : 0;
                const double* xcol = panel + j * MIXEDLM_NORMSQ_ROWS;
                /* NumPy: acc[i0:nb] += coef * X[r0 + i0:r1, j] */
                for (int64_t i = i0; i < nb; i++)
                    acc[i] += coef * xcol[i];
            }
            double part[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
            for (int64_t c = 0; c < MIXEDLM_NORMSQ_ROWS; c += 8)
                for (int k = 0; k < 8; k++)
                    part[k] += acc[c + k] * acc[c + k];
            total += wl[l] * (((part[0] + part[4]) + (part[1] + part[5]))
                              + ((part[2] + part[6]) + (part[3] + part[7])));
        }
    }
    return total;
}
#endif
