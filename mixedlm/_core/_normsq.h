/* The blocked gradient's sum of weighted squared norms ||X b_l||^2, with
 * X = inv(L11) lower triangular (see _gradient.level_normsq).
 *
 * Storage: X column-major with leading dimension ldx (only its lower
 * triangle is read); the level entries level-major (ptr, idx ascending
 * within a level, val one value per entry); panel scratch of
 * MIXEDLM_NORMSQ_ROWS * m doubles, given by the caller.
 *
 * The inner loop is an axpy over a block of MIXEDLM_NORMSQ_ROWS = 64 rows,
 * held in 16 accumulators of 4 doubles (GCC's and Clang's vector
 * extension; plain arrays elsewhere). With GCC on x86-64 glibc Linux the
 * function is compiled twice, for x86-64-v3 (AVX2: the accumulators are
 * ymm registers, two of them spilled to the stack, as 16 accumulators, the
 * splat coefficient and the product need 18; 56 or 48 rows measured no
 * faster) and for the baseline, and the loader picks one for the CPU it
 * runs on (an ifunc; musl has none). Elsewhere it is compiled once.
 * MIXEDLM_NO_CLONES compiles it once for the target the compiler is given,
 * MIXEDLM_NO_VECTORS without the vector extension (the tests build each
 * so). Every version does the same IEEE operations in the same order on
 * each row, and the lanes are only ever combined in the fixed order below,
 * so all of them give the same bits, provided nothing fuses a multiply and
 * an add: the build is ISO C (-std=c11) with -ffp-contract=off
 * (mixedlm/_core/meson.build), and Clang, which contracts by default even
 * in ISO mode, is told so by the pragma below.
 * Measured on InstEval (m = 1128, 73k entries, AMD EPYC Zen 5): 4.5 ms
 * (AVX2) against 7.8 ms with 32-row blocks of scalar code left to the
 * auto-vectorizer; the baseline version takes 18 ms.
 */
#ifndef MIXEDLM_NORMSQ_H
#define MIXEDLM_NORMSQ_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(MIXEDLM_NO_CLONES) && defined(__GNUC__) && !defined(__clang__) \
    && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && __GNUC__ >= 12
#define MIXEDLM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MIXEDLM_CLONES
#endif

#define MIXEDLM_NORMSQ_ROWS 64

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#if (defined(__GNUC__) || defined(__clang__)) && !defined(MIXEDLM_NO_VECTORS)
/* 4 doubles, element-wise IEEE arithmetic; a scalar operand is splat */
typedef double mixedlm_v4d __attribute__((vector_size(4 * sizeof(double))));
#define MIXEDLM_NORMSQ_VECTORS 1
#endif

/* Returns the sum. Also writes diag[c] = ||X[c:m, c]||^2 (the diagonal of
 * X'X), summed over the same blocks as they are packed, so that X is read
 * once. The panel holds a block's rows of columns 0..r1-1 packed, column j
 * at panel + j * ROWS, so that the block is one contiguous stretch (strided,
 * its columns sit in as many pages as there are columns), with zeros where
 * X has none: above the diagonal, and below row m in a last, shorter block.
 * Every entry then adds a whole column of the panel, a loop of constant
 * length whose accumulators the compiler can keep in registers (all but
 * two of them with AVX2, see above). */
MIXEDLM_CLONES
static double mixedlm_level_normsq(int64_t nl, const int64_t* ptr, const int32_t* idx,
                                   const double* val, const double* wl,
                                   const double* rscale, const double* X, int64_t ldx,
                                   int64_t m, double* diag, double* panel)
{
    double total = 0.0;
    for (int64_t c = 0; c < m; c++)
        diag[c] = 0.0;
    for (int64_t r0 = 0; r0 < m; r0 += MIXEDLM_NORMSQ_ROWS) {
        int64_t r1 = r0 + MIXEDLM_NORMSQ_ROWS < m ? r0 + MIXEDLM_NORMSQ_ROWS : m;
        int64_t nb = r1 - r0;
        for (int64_t j = 0; j < r1; j++) {
            /* rows below the diagonal only: X is lower triangular */
            int64_t i0 = j > r0 ? j - r0 : 0;
            double* packed = panel + j * MIXEDLM_NORMSQ_ROWS;
            memset(packed, 0, sizeof(double) * (size_t)i0);
            memcpy(packed + i0, X + j * ldx + r0 + i0, sizeof(double) * (size_t)(nb - i0));
            memset(packed + nb, 0, sizeof(double) * (size_t)(MIXEDLM_NORMSQ_ROWS - nb));
            double d = 0.0;
            for (int64_t i = i0; i < nb; i++)
                d += packed[i] * packed[i];
            diag[j] += d;
        }
        for (int64_t l = 0; l < nl; l++) {
            int64_t a = ptr[l], end = ptr[l + 1];
            if (a == end || idx[a] >= r1)
                continue;
            /* NumPy: acc = X[r0:r1, :r1] @ (coef over the level's entries left
             * of r1); the zeros of the panel add nothing to the rows they
             * pad. The block is then summed as part[k] = sum over c of
             * acc[8 c + k]^2, the parts added in a fixed order (one add
             * chain would be latency-bound). */
            double part[8];
#ifdef MIXEDLM_NORMSQ_VECTORS
            /* acc[v] holds rows 4 v .. 4 v + 3 */
            mixedlm_v4d acc[MIXEDLM_NORMSQ_ROWS / 4];
            for (int v = 0; v < MIXEDLM_NORMSQ_ROWS / 4; v++)
                acc[v] = (mixedlm_v4d){0.0, 0.0, 0.0, 0.0};
            for (; a < end && idx[a] < r1; a++) {
                double coef = val[a] * rscale[idx[a]];
                const double* xcol = panel + (int64_t)idx[a] * MIXEDLM_NORMSQ_ROWS;
                for (int v = 0; v < MIXEDLM_NORMSQ_ROWS / 4; v++) {
                    mixedlm_v4d x;
                    memcpy(&x, xcol + 4 * v, sizeof(x)); /* an unaligned load */
                    acc[v] += coef * x;
                }
            }
            /* rows 8 c + k (lo) and 8 c + 4 + k (hi), k < 4 */
            mixedlm_v4d lo = acc[0] * acc[0], hi = acc[1] * acc[1];
            for (int v = 2; v < MIXEDLM_NORMSQ_ROWS / 4; v += 2) {
                lo += acc[v] * acc[v];
                hi += acc[v + 1] * acc[v + 1];
            }
            for (int k = 0; k < 4; k++) {
                part[k] = lo[k];
                part[k + 4] = hi[k];
            }
#else
            double acc[MIXEDLM_NORMSQ_ROWS];
            for (int i = 0; i < MIXEDLM_NORMSQ_ROWS; i++)
                acc[i] = 0.0;
            for (; a < end && idx[a] < r1; a++) {
                double coef = val[a] * rscale[idx[a]];
                const double* xcol = panel + (int64_t)idx[a] * MIXEDLM_NORMSQ_ROWS;
                for (int i = 0; i < MIXEDLM_NORMSQ_ROWS; i++)
                    acc[i] += coef * xcol[i];
            }
            for (int k = 0; k < 8; k++) {
                part[k] = acc[k] * acc[k];
                for (int c = 8; c < MIXEDLM_NORMSQ_ROWS; c += 8)
                    part[k] += acc[c + k] * acc[c + k];
            }
#endif
            total += wl[l] * (((part[0] + part[4]) + (part[1] + part[5]))
                              + ((part[2] + part[6]) + (part[3] + part[7])));
        }
    }
    return total;
}
#endif
