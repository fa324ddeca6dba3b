/* The LSTM, GRU and SimpleRNN recurrences over a whole batch of sequences, forward and backward, in float32.
 *
 * glassnet compiles this file with the system C compiler the first time a masked recurrent layer runs on
 * the CPU (see native.py) and calls it through ctypes: one call per forward and one per backward pass,
 * instead of a dozen small torch operations per time step. It holds only the recurrence; the input
 * projection, the weight gradient of the recurrent kernel and all bookkeeping stay in torch.
 *
 * Layouts (row-major, contiguous):
 *   xp     (B, T, 4d)  input projection x·W + b, gate order i, f, g (cell candidate), o
 *   R      (d, 4d)     recurrent kernel;  RT (4d, d) its transpose, for the backward pass
 *   h0, c0 (B, d)      initial states
 *   gates  (B, T, 4d)  out: activated gates
 *   cs, hs (B, T, d)   out: cell and hidden states;  tcs (B, T, d) out: tanh(c)
 *
 * exp, sigmoid and tanh are written out (Cephes-style polynomials, float32 round-off) so that the
 * compiler can vectorise the element-wise loops; NaN propagates as it does in torch.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
/* Gradients that decay over many steps reach subnormal floats (below 1.2e-38), where x86 arithmetic is
 * dozens of times slower; flush them to zero during a call, and restore the caller's setting after. */
#define FLUSH_SUBNORMALS unsigned int saved_csr = _mm_getcsr(); _mm_setcsr(saved_csr | 0x8040);
#define RESTORE_SUBNORMALS _mm_setcsr(saved_csr);
#else
#define FLUSH_SUBNORMALS
#define RESTORE_SUBNORMALS
#endif

static inline float exp_f(float x) {
    float keep = x;
    x = x > 88.3762626647949f ? 88.3762626647949f : x;
    x = x < -88.3762626647949f ? -88.3762626647949f : x;
    float fx = floorf(x * 1.44269504088896341f + 0.5f);
    x = x - fx * 0.693359375f;
    x = x + fx * 2.12194440e-4f;
    float z = x * x;
    float y = 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3333519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * z + x + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)fx + 127) << 23;
    y = y * scale.f;
    return keep == keep ? y : keep;
}

static inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

static inline float tanh_f(float x) {
    float a = fabsf(x);
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z
                    + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float e = exp_f(2.0f * a);
    float large = 1.0f - 2.0f / (e + 1.0f);
    large = x < 0.0f ? -large : large;
    float r = a < 0.625f ? small : large;
    return x == x ? r : x;
}

/* out[j0 : j0+W] = base + v (m) · M[:, j0 : j0+W] for a block of W columns held in registers while the
 * m rows of M stream past, in four partial sums so that the multiply-adds do not wait on each other. */
#define MATVEC_BLOCK(W)                                                                      \
    for (; j0 + (W) <= n; j0 += (W)) {                                                       \
        float a0[W], a1[W], a2[W], a3[W];                                                    \
        for (int jj = 0; jj < (W); jj++) {                                                   \
            a0[jj] = base ? base[j0 + jj] : 0.0f;                                            \
            a1[jj] = a2[jj] = a3[jj] = 0.0f;                                                 \
        }                                                                                    \
        int64_t k = 0;                                                                       \
        for (; k + 4 <= m; k += 4) {                                                         \
            const float v0 = v[k], v1 = v[k + 1], v2 = v[k + 2], v3 = v[k + 3];              \
            const float *r0 = M + k * ld + j0, *r1 = r0 + ld, *r2 = r1 + ld, *r3 = r2 + ld;   \
            for (int jj = 0; jj < (W); jj++) {                                               \
                a0[jj] += v0 * r0[jj];                                                       \
                a1[jj] += v1 * r1[jj];                                                       \
                a2[jj] += v2 * r2[jj];                                                       \
                a3[jj] += v3 * r3[jj];                                                       \
            }                                                                                \
        }                                                                                    \
        for (; k < m; k++)                                                                   \
            for (int jj = 0; jj < (W); jj++) a0[jj] += v[k] * M[k * ld + j0 + jj];           \
        for (int jj = 0; jj < (W); jj++) out[j0 + jj] = (a0[jj] + a1[jj]) + (a2[jj] + a3[jj]); \
    }

/* out (n) = base (n, or zeros when NULL) + v (m) · M (m, n), row k of M at M + k·ld. */
static inline void matvec_add(int64_t m, int64_t n, int64_t ld, const float *restrict v,
                              const float *restrict M, const float *restrict base, float *restrict out) {
    int64_t j0 = 0;
    MATVEC_BLOCK(32)
    MATVEC_BLOCK(8)
    for (; j0 < n; j0++) {
        float acc = base ? base[j0] : 0.0f;
        for (int64_t k = 0; k < m; k++) acc += v[k] * M[k * ld + j0];
        out[j0] = acc;
    }
}

/* The same for a wide, short M (n ≥ 64 columns, few rows): blocks of 64 columns, one sum each. */
static inline void matvec_add_wide(int64_t m, int64_t n, const float *restrict v, const float *restrict M,
                                   const float *restrict base, float *restrict out) {
    int64_t j0 = 0;
    for (; j0 + 64 <= n; j0 += 64) {
        float acc[64];
        for (int jj = 0; jj < 64; jj++) acc[jj] = base[j0 + jj];
        for (int64_t k = 0; k < m; k++) {
            const float vk = v[k];
            const float *row = M + k * n + j0;
            for (int jj = 0; jj < 64; jj++) acc[jj] += vk * row[jj];
        }
        for (int jj = 0; jj < 64; jj++) out[j0 + jj] = acc[jj];
    }
    if (j0 < n) matvec_add(m, n - j0, n, v, M + j0, base + j0, out + j0);
}

/* One step's element-wise part for one row: gate pre-activations in, activations, c, tanh(c), h out. */
static inline void cell_forward(int64_t d, float *restrict gi, float *restrict gf, float *restrict gg,
                                float *restrict go, const float *restrict cp, float *restrict c,
                                float *restrict tc, float *restrict h) {
    for (int64_t j = 0; j < d; j++) {
        float i = sigmoid_f(gi[j]), f = sigmoid_f(gf[j]), g = tanh_f(gg[j]), o = sigmoid_f(go[j]);
        float cn = f * cp[j] + i * g;
        float th = tanh_f(cn);
        gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;
        c[j] = cn; tc[j] = th; h[j] = o * th;
    }
}

/* One step's element-wise backward for one row; dh, dc carry the gradient from the step after. */
static inline void cell_backward(int64_t d, const float *restrict gi, const float *restrict gf,
                                 const float *restrict gg, const float *restrict go, const float *restrict tc,
                                 const float *restrict cp, const float *restrict dh, float *restrict dc,
                                 const float *restrict up_h, const float *restrict up_c, float *restrict dzi,
                                 float *restrict dzf, float *restrict dzg, float *restrict dzo) {
    for (int64_t j = 0; j < d; j++) {
        float i = gi[j], f = gf[j], g = gg[j], o = go[j], th = tc[j];
        float dht = dh[j] + up_h[j];
        float dct = dc[j] + up_c[j] + dht * o * (1.0f - th * th);
        dzi[j] = dct * g * i * (1.0f - i);
        dzf[j] = dct * cp[j] * f * (1.0f - f);
        dzg[j] = dct * i * (1.0f - g * g);
        dzo[j] = dht * th * o * (1.0f - o);
        dc[j] = dct * f;
    }
}

/* How many steps row b runs: lengths[b] held to 0..T, or T without lengths. */
static inline int64_t row_length(const int64_t *lengths, int64_t b, int64_t T) {
    const int64_t L = lengths ? lengths[b] : T;
    return L < 0 ? 0 : (L > T ? T : L);
}

/* Every entry point is given the element count of each buffer it was handed (sizes[], in argument
 * order; 0 for a NULL lengths) and refuses, touching nothing, unless each is exactly what B, T and d
 * imply: a wrong shape from the caller is an error code, never a read or write out of bounds. */
static int sizes_ok(int64_t B, int64_t T, int64_t d, int n, const int64_t *want, const int64_t *sizes) {
    if (B < 0 || T < 0 || d <= 0 || !sizes) return 0;
    for (int i = 0; i < n; i++)
        if (sizes[i] != want[i]) return 0;
    return 1;
}

/* lengths (B): row b runs steps 0 .. lengths[b]-1; its later steps are written as zeros (NULL: all T).
 * Rows are independent, so each runs its whole sequence before the next: its state stays in cache and
 * its slice of every buffer is read and written in order. Returns 0, or -1 (nothing done) for bad sizes.
 * sizes: xp, R, h0, c0, lengths, gates, cs, hs, tcs. */
int glassnet_lstm_forward(int64_t B, int64_t T, int64_t d, const float *xp, const float *R,
                          const float *h0, const float *c0, const int64_t *lengths, float *gates, float *cs,
                          float *hs, float *tcs, const int64_t *sizes) {
    const int64_t G = 4 * d;
    const int64_t want[9] = {B * T * G, d * G, B * d, B * d, lengths ? B : 0, B * T * G, B * T * d, B * T * d,
                             B * T * d};
    if (!sizes_ok(B, T, d, 9, want, sizes)) return -1;
    FLUSH_SUBNORMALS
    for (int64_t b = 0; b < B; b++) {
        const int64_t L = row_length(lengths, b, T);
        const float *h = h0 + b * d, *c = c0 + b * d;
        for (int64_t t = 0; t < L; t++) {
            const int64_t row = b * T + t;
            float *g = gates + row * G;
            matvec_add_wide(d, G, h, R, xp + row * G, g);
            cell_forward(d, g, g + d, g + 2 * d, g + 3 * d, c, cs + row * d, tcs + row * d, hs + row * d);
            h = hs + row * d;
            c = cs + row * d;
        }
        const size_t rest = (size_t)(T - L);
        memset(gates + (b * T + L) * G, 0, rest * (size_t)G * sizeof(float));
        memset(cs + (b * T + L) * d, 0, rest * (size_t)d * sizeof(float));
        memset(tcs + (b * T + L) * d, 0, rest * (size_t)d * sizeof(float));
        memset(hs + (b * T + L) * d, 0, rest * (size_t)d * sizeof(float));
    }
    RESTORE_SUBNORMALS
    return 0;
}

/* dhs, dcs (B, T, d): gradients arriving at every step's h and c; those at a row's steps past its
 * length must be zero (the caller masks them), and are not read.
 * dxp (B, T, 4d): out, d(pre-activation gates) = d(input projection);
 * dh0, dc0 (B, d): out, the gradients of the initial states. Returns 0, or -1 for bad sizes.
 * sizes: RT, c0, lengths, gates, cs, tcs, dhs, dcs, dxp, dh0, dc0. */
int glassnet_lstm_backward(int64_t B, int64_t T, int64_t d, const float *RT, const float *c0,
                           const int64_t *lengths, const float *gates, const float *cs, const float *tcs,
                           const float *dhs, const float *dcs, float *dxp, float *dh0, float *dc0,
                           const int64_t *sizes) {
    const int64_t G = 4 * d;
    const int64_t want[11] = {G * d, B * d, lengths ? B : 0, B * T * G, B * T * d, B * T * d, B * T * d, B * T * d,
                              B * T * G, B * d, B * d};
    if (!sizes_ok(B, T, d, 11, want, sizes)) return -1;
    FLUSH_SUBNORMALS
    for (int64_t b = 0; b < B; b++) {
        const int64_t L = row_length(lengths, b, T);
        float *dh = dh0 + b * d, *dc = dc0 + b * d;  /* the running gradients end as d(h0), d(c0) */
        memset(dh, 0, (size_t)d * sizeof(float));
        memset(dc, 0, (size_t)d * sizeof(float));
        memset(dxp + (b * T + L) * G, 0, (size_t)(T - L) * (size_t)G * sizeof(float));
        for (int64_t t = L - 1; t >= 0; t--) {
            const int64_t row = b * T + t;
            const float *g = gates + row * G;
            const float *cp = t ? cs + (row - 1) * d : c0 + b * d;
            float *dz = dxp + row * G;
            cell_backward(d, g, g + d, g + 2 * d, g + 3 * d, tcs + row * d, cp, dh, dc, dhs + row * d,
                          dcs + row * d, dz, dz + d, dz + 2 * d, dz + 3 * d);
            matvec_add(G, d, d, dz, RT, 0, dh);
        }
    }
    RESTORE_SUBNORMALS
    return 0;
}


/* ---------------------------------------------------------------------------------------------------
 * GRU, Keras's default (reset_after=True): gates z, r, h along the 3d axis; rec = h·R + brec;
 *   z = σ(xz + rec_z), r = σ(xr + rec_r), hh = tanh(xh + r⊙rec_h), h' = z⊙h + (1-z)⊙hh.
 * Layouts: xp (B, T, 3d) the input projection x·W + b_in; R (d, 3d); brec (3d) the recurrent bias row
 * (zeros without a bias); h0 (B, d). Out: gates (B, T, 3d) the activated z, r, hh; rh (B, T, d) rec_h;
 * hs (B, T, d). sizes: xp, R, brec, h0, lengths, gates, rh, hs. */
int glassnet_gru_forward(int64_t B, int64_t T, int64_t d, const float *xp, const float *R, const float *brec,
                         const float *h0, const int64_t *lengths, float *gates, float *rh, float *hs,
                         const int64_t *sizes) {
    const int64_t G = 3 * d;
    const int64_t want[8] = {B * T * G, d * G, G, B * d, lengths ? B : 0, B * T * G, B * T * d, B * T * d};
    if (!sizes_ok(B, T, d, 8, want, sizes)) return -1;
    FLUSH_SUBNORMALS
    for (int64_t b = 0; b < B; b++) {
        const int64_t L = row_length(lengths, b, T);
        const float *h = h0 + b * d;
        for (int64_t t = 0; t < L; t++) {
            const int64_t row = b * T + t;
            float *g = gates + row * G;
            const float *x = xp + row * G;
            matvec_add_wide(d, G, h, R, brec, g);  /* g = rec = brec + h·R */
            float *hn = hs + row * d, *rr = rh + row * d;
            for (int64_t j = 0; j < d; j++) {
                const float z = sigmoid_f(x[j] + g[j]);
                const float r = sigmoid_f(x[d + j] + g[d + j]);
                const float rec_h = g[2 * d + j];
                const float hh = tanh_f(x[2 * d + j] + r * rec_h);
                g[j] = z; g[d + j] = r; g[2 * d + j] = hh;
                rr[j] = rec_h;
                hn[j] = z * h[j] + (1.0f - z) * hh;
            }
            h = hn;
        }
        const size_t rest = (size_t)(T - L);
        memset(gates + (b * T + L) * G, 0, rest * (size_t)G * sizeof(float));
        memset(rh + (b * T + L) * d, 0, rest * (size_t)d * sizeof(float));
        memset(hs + (b * T + L) * d, 0, rest * (size_t)d * sizeof(float));
    }
    RESTORE_SUBNORMALS
    return 0;
}

/* dhs (B, T, d): gradients arriving at every step's h (zero past a row's length, not read).
 * Out: dxp (B, T, 3d) d(input projection); drec (B, T, 3d) d(rec), from which the caller forms d(R) and
 * d(brec); dh0 (B, d). sizes: RT, h0, lengths, gates, rh, hs, dhs, dxp, drec, dh0. Returns -1 for bad sizes,
 * -2 when scratch memory cannot be had. */
int glassnet_gru_backward(int64_t B, int64_t T, int64_t d, const float *RT, const float *h0, const int64_t *lengths,
                          const float *gates, const float *rh, const float *hs, const float *dhs, float *dxp,
                          float *drec, float *dh0, const int64_t *sizes) {
    const int64_t G = 3 * d;
    const int64_t want[10] = {G * d, B * d, lengths ? B : 0, B * T * G, B * T * d, B * T * d, B * T * d,
                              B * T * G, B * T * G, B * d};
    if (!sizes_ok(B, T, d, 10, want, sizes)) return -1;
    float *keep = (float *)malloc((size_t)d * sizeof(float));
    if (!keep) return -2;
    FLUSH_SUBNORMALS
    for (int64_t b = 0; b < B; b++) {
        const int64_t L = row_length(lengths, b, T);
        float *dh = dh0 + b * d;  /* the running gradient ends as d(h0) */
        memset(dh, 0, (size_t)d * sizeof(float));
        memset(dxp + (b * T + L) * G, 0, (size_t)(T - L) * (size_t)G * sizeof(float));
        memset(drec + (b * T + L) * G, 0, (size_t)(T - L) * (size_t)G * sizeof(float));
        for (int64_t t = L - 1; t >= 0; t--) {
            const int64_t row = b * T + t;
            const float *g = gates + row * G, *rr = rh + row * d, *up = dhs + row * d;
            const float *hp = t ? hs + (row - 1) * d : h0 + b * d;
            float *dx = dxp + row * G, *dc = drec + row * G;
            for (int64_t j = 0; j < d; j++) {
                const float z = g[j], r = g[d + j], hh = g[2 * d + j];
                const float dht = dh[j] + up[j];
                const float dah = dht * (1.0f - z) * (1.0f - hh * hh);
                const float dpz = dht * (hp[j] - hh) * z * (1.0f - z);
                const float dpr = dah * rr[j] * r * (1.0f - r);
                dx[j] = dpz; dx[d + j] = dpr; dx[2 * d + j] = dah;
                dc[j] = dpz; dc[d + j] = dpr; dc[2 * d + j] = dah * r;
                keep[j] = dht * z;
            }
            matvec_add(G, d, d, dc, RT, keep, dh);  /* d(h_prev) = dht⊙z + d(rec)·Rᵀ */
        }
    }
    RESTORE_SUBNORMALS
    free(keep);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * SimpleRNN with tanh: h' = tanh(xp + h·R). xp (B, T, d) = x·W + b; R (d, d); h0 (B, d); out hs (B, T, d).
 * sizes: xp, R, h0, lengths, hs. */
int glassnet_rnn_forward(int64_t B, int64_t T, int64_t d, const float *xp, const float *R, const float *h0,
                         const int64_t *lengths, float *hs, const int64_t *sizes) {
    const int64_t want[5] = {B * T * d, d * d, B * d, lengths ? B : 0, B * T * d};
    if (!sizes_ok(B, T, d, 5, want, sizes)) return -1;
    FLUSH_SUBNORMALS
    for (int64_t b = 0; b < B; b++) {
        const int64_t L = row_length(lengths, b, T);
        const float *h = h0 + b * d;
        for (int64_t t = 0; t < L; t++) {
            const int64_t row = b * T + t;
            float *hn = hs + row * d;
            matvec_add(d, d, d, h, R, xp + row * d, hn);
            for (int64_t j = 0; j < d; j++) hn[j] = tanh_f(hn[j]);
            h = hn;
        }
        memset(hs + (b * T + L) * d, 0, (size_t)(T - L) * (size_t)d * sizeof(float));
    }
    RESTORE_SUBNORMALS
    return 0;
}

/* Out: dxp (B, T, d) d(pre-activation) = d(input projection) = d(rec); dh0 (B, d).
 * sizes: RT, h0, lengths, hs, dhs, dxp, dh0. */
int glassnet_rnn_backward(int64_t B, int64_t T, int64_t d, const float *RT, const float *h0, const int64_t *lengths,
                          const float *hs, const float *dhs, float *dxp, float *dh0, const int64_t *sizes) {
    const int64_t want[7] = {d * d, B * d, lengths ? B : 0, B * T * d, B * T * d, B * T * d, B * d};
    if (!sizes_ok(B, T, d, 7, want, sizes)) return -1;
    FLUSH_SUBNORMALS
    for (int64_t b = 0; b < B; b++) {
        const int64_t L = row_length(lengths, b, T);
        float *dh = dh0 + b * d;
        memset(dh, 0, (size_t)d * sizeof(float));
        memset(dxp + (b * T + L) * d, 0, (size_t)(T - L) * (size_t)d * sizeof(float));
        for (int64_t t = L - 1; t >= 0; t--) {
            const int64_t row = b * T + t;
            const float *h = hs + row * d, *up = dhs + row * d;
            float *da = dxp + row * d;
            for (int64_t j = 0; j < d; j++) da[j] = (dh[j] + up[j]) * (1.0f - h[j] * h[j]);
            matvec_add(d, d, d, da, RT, 0, dh);
        }
    }
    RESTORE_SUBNORMALS
    return 0;
}
