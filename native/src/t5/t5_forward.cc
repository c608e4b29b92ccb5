// The T5 forward (encoder, decoder, cached decoder steps) and backward over one sequence pair, every frozen product,
// norm, LoRA product and loss through the Backend; T5's own attention and gated-GELU from t5_ops.
#include "t5/t5_forward.h"
#include "error.h"
#include "t5/t5_ops.h"

namespace peft::t5 {
namespace {

const kern::FrozenLinear& W(const T5Model& m, int stk, int l, int s) { return *m.blocks[stk][l].proj[s]; }

// The dropout mask stream of one projection of the current example (T5Stack::stream, set by the trainer).
uint64_t dropout_stream(const T5Stack& st, int stk, int l, int s) {
  return ((st.stream * 2 + (uint64_t)stk) * 1024 + (uint64_t)l) * N_SLOT + (uint64_t)s;
}

// The trainable adapter's input: x, or with LoRA dropout x dropped (inverted) into buf.
const float* dropped(const T5Model& m, const T5Stack& st, int stk, int l, int s, const float* x, size_t n,
                     std::vector<float>& buf) {
  if (st.dropout <= 0.f) return x;
  buf.resize(n);
  m.be().dropout_forward(buf.data(), x, n, st.dropout, st.seed, dropout_stream(st, stk, l, s));
  return buf.data();
}

// y [N, out] = x W^T + every adapter's LoRA product; the trainable one's x A^T kept in usave when given.
void proj_fwd(const T5Model& m, const T5Stack& st, int stk, int l, int s, float* y, const float* x, int N,
              std::vector<float>* usave) {
  const kern::FrozenLinear& w = W(m, stk, l, s);
  m.be().linear_forward(w, y, x, N, m.compute);
  std::vector<float> tmp;
  for (auto& [a, sc] : st.frozen)
    if (const LoraW* lw = a->mod(stk, l, s)) {
      tmp.resize((size_t)N * a->r);
      m.be().lora_forward(y, tmp.data(), x, lw->A.data(), lw->B.data(), N, w.in(), w.out(), a->r, sc);
    }
  if (st.train)
    if (const LoraW* lw = st.train->mod(stk, l, s)) {
      std::vector<float>& u = usave ? *usave : tmp;
      u.resize((size_t)N * st.train->r);
      std::vector<float> xd;
      const float* xin = dropped(m, st, stk, l, s, x, (size_t)N * w.in(), xd);
      m.be().lora_forward(y, u.data(), xin, lw->A.data(), lw->B.data(), N, w.in(), w.out(), st.train->r,
                          st.train_scale);
    }
}

// dx [N, in] += dy W + the LoRA paths; the trainable adapter's dA / dB accumulate into grad.
void proj_bwd(const T5Model& m, const T5Stack& st, int stk, int l, int s, float* dx, const float* dy, const float* x,
              const std::vector<float>& usave, T5Adapter& grad, int N) {
  const kern::FrozenLinear& w = W(m, stk, l, s);
  m.be().linear_backward_input(w, dx, dy, N, m.compute);
  std::vector<float> du;
  for (auto& [a, sc] : st.frozen)
    if (const LoraW* lw = a->mod(stk, l, s)) {
      du.resize((size_t)N * a->r);
      m.be().lora_backward(nullptr, nullptr, dx, du.data(), dy, x, nullptr, lw->A.data(), lw->B.data(), N, w.in(),
                           w.out(), a->r, sc, nullptr);
    }
  if (st.train)
    if (const LoraW* lw = st.train->mod(stk, l, s)) {
      LoraW* g = grad.mod(stk, l, s);
      du.resize((size_t)N * st.train->r);
      if (st.dropout > 0.f) { // the same mask as the forward: dx += dropout'(d/d(dropped x))
        const size_t n = (size_t)N * w.in();
        std::vector<float> xd, dxd(n, 0.f);
        const float* xin = dropped(m, st, stk, l, s, x, n, xd);
        m.be().lora_backward(g->A.data(), g->B.data(), dxd.data(), du.data(), dy, xin, usave.data(), lw->A.data(),
                             lw->B.data(), N, w.in(), w.out(), st.train->r, st.train_scale, nullptr);
        m.be().dropout_backward(dx, dxd.data(), n, st.dropout, st.seed, dropout_stream(st, stk, l, s));
      } else {
        m.be().lora_backward(g->A.data(), g->B.data(), dx, du.data(), dy, x, usave.data(), lw->A.data(), lw->B.data(),
                             N, w.in(), w.out(), st.train->r, st.train_scale, nullptr);
      }
    }
}

AttnDims dims(const T5Model& m, int Tq, int Tk, bool causal) {
  return AttnDims{Tq, Tk, m.cfg.num_heads, m.cfg.d_kv, 0, causal};
}

// x [Tq, D] += attention sublayer(x); cross: keys / values from kvsrc [Tk, D] (the encoder output).
void attn_fwd(const T5Model& m, const T5Stack& st, int stk, int l, bool cross, float* x, int Tq, const float* kvsrc,
              int Tk, const float* bias, bool causal, SubSave& s) {
  const int D = m.D(), I = m.cfg.inner();
  const T5Block& B = m.blocks[stk][l];
  s.xin.assign(x, x + (size_t)Tq * D);
  s.rstd.resize(Tq);
  s.n.resize((size_t)Tq * D);
  m.be().rmsnorm_forward(s.n.data(), s.rstd.data(), x, (cross ? B.ln_ca : B.ln_sa).data(), Tq, D, (float)m.cfg.eps);
  const int base = cross ? C_Q : S_Q;
  const float* src = cross ? kvsrc : s.n.data();
  s.q.resize((size_t)Tq * I);
  s.k.resize((size_t)Tk * I);
  s.v.resize((size_t)Tk * I);
  proj_fwd(m, st, stk, l, base + 0, s.q.data(), s.n.data(), Tq, &s.u[0]);
  proj_fwd(m, st, stk, l, base + 1, s.k.data(), src, Tk, &s.u[1]);
  proj_fwd(m, st, stk, l, base + 2, s.v.data(), src, Tk, &s.u[2]);
  s.P.resize((size_t)m.cfg.num_heads * Tq * Tk);
  s.att.resize((size_t)Tq * I);
  attention_forward(s.att.data(), s.P.data(), s.q.data(), s.k.data(), s.v.data(), bias, dims(m, Tq, Tk, causal));
  std::vector<float> o((size_t)Tq * D);
  proj_fwd(m, st, stk, l, base + 3, o.data(), s.att.data(), Tq, &s.u[3]);
  m.be().add_inplace(x, o.data(), Tq, D);
}

void attn_bwd(const T5Model& m, const T5Stack& st, int stk, int l, bool cross, float* dx, int Tq, const float* kvsrc,
              float* dkvsrc, int Tk, bool causal, const SubSave& s, T5Adapter& grad) {
  const int D = m.D(), I = m.cfg.inner();
  const T5Block& B = m.blocks[stk][l];
  const int base = cross ? C_Q : S_Q;
  std::vector<float> datt((size_t)Tq * I, 0.f), dq((size_t)Tq * I), dk((size_t)Tk * I, 0.f), dv((size_t)Tk * I, 0.f);
  proj_bwd(m, st, stk, l, base + 3, datt.data(), dx, s.att.data(), s.u[3], grad, Tq);
  attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), s.P.data(), s.q.data(), s.k.data(), s.v.data(),
                     dims(m, Tq, Tk, causal));
  std::vector<float> dn((size_t)Tq * D, 0.f);
  proj_bwd(m, st, stk, l, base + 0, dn.data(), dq.data(), s.n.data(), s.u[0], grad, Tq);
  float* dsrc = cross ? dkvsrc : dn.data();
  const float* src = cross ? kvsrc : s.n.data();
  proj_bwd(m, st, stk, l, base + 1, dsrc, dk.data(), src, s.u[1], grad, Tk);
  proj_bwd(m, st, stk, l, base + 2, dsrc, dv.data(), src, s.u[2], grad, Tk);
  m.be().rmsnorm_backward(dx, dn.data(), s.xin.data(), (cross ? B.ln_ca : B.ln_sa).data(), s.rstd.data(), Tq, D);
}

void ff_fwd(const T5Model& m, const T5Stack& st, int stk, int l, float* x, int T, FFSave& s) {
  const int D = m.D(), F = m.cfg.d_ff;
  s.xin.assign(x, x + (size_t)T * D);
  s.rstd.resize(T);
  s.n.resize((size_t)T * D);
  m.be().rmsnorm_forward(s.n.data(), s.rstd.data(), x, m.blocks[stk][l].ln_ff.data(), T, D, (float)m.cfg.eps);
  s.g.resize((size_t)T * F);
  s.u.resize((size_t)T * F);
  s.h.resize((size_t)T * F);
  proj_fwd(m, st, stk, l, F_WI0, s.g.data(), s.n.data(), T, &s.lu[0]);
  proj_fwd(m, st, stk, l, F_WI1, s.u.data(), s.n.data(), T, &s.lu[1]);
  gated_gelu_forward(s.h.data(), s.g.data(), s.u.data(), (size_t)T * F);
  std::vector<float> y((size_t)T * D);
  proj_fwd(m, st, stk, l, F_WO, y.data(), s.h.data(), T, &s.lu[2]);
  m.be().add_inplace(x, y.data(), T, D);
}

void ff_bwd(const T5Model& m, const T5Stack& st, int stk, int l, float* dx, int T, const FFSave& s, T5Adapter& grad) {
  const int D = m.D(), F = m.cfg.d_ff;
  std::vector<float> dh((size_t)T * F, 0.f), dg((size_t)T * F), du((size_t)T * F), dn((size_t)T * D, 0.f);
  proj_bwd(m, st, stk, l, F_WO, dh.data(), dx, s.h.data(), s.lu[2], grad, T);
  gated_gelu_backward(dg.data(), du.data(), dh.data(), s.g.data(), s.u.data(), (size_t)T * F);
  proj_bwd(m, st, stk, l, F_WI0, dn.data(), dg.data(), s.n.data(), s.lu[0], grad, T);
  proj_bwd(m, st, stk, l, F_WI1, dn.data(), du.data(), s.n.data(), s.lu[1], grad, T);
  m.be().rmsnorm_backward(dx, dn.data(), s.xin.data(), m.blocks[stk][l].ln_ff.data(), s.rstd.data(), T, D);
}

void check_ids(const T5Model& m, const int32_t* ids, int n, const char* what) {
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= m.cfg.vocab_size)
      throw EngineError("E_ENGINE", std::string(what) + ": token id " + std::to_string(ids[i]) + " at " +
                                        std::to_string(i) + " is outside the vocabulary [0, " +
                                        std::to_string(m.cfg.vocab_size) + ")");
}

} // namespace

void t5_encode(const T5Model& m, const T5Stack& st, const int32_t* ids, int Te, T5Pass& p) {
  if (Te <= 0) throw EngineError("E_ENGINE", "t5: the encoder input is empty (at least one token id is needed)");
  check_ids(m, ids, Te, "encoder ids");
  const int D = m.D(), L = m.layers(ENC);
  const T5Config& c = m.cfg;
  p.Te = Te;
  p.enc.resize(L);
  position_bias(p.enc_bias, m.enc_rel.data(), c.num_heads, Te, Te, 0, true, c.num_buckets, c.max_distance);
  p.enc_x.resize((size_t)Te * D);
  m.be().embed_rows(p.enc_x.data(), m.shared.data(), ids, Te, D);
  for (int l = 0; l < L; l++) {
    attn_fwd(m, st, ENC, l, false, p.enc_x.data(), Te, nullptr, Te, p.enc_bias.data(), false, p.enc[l].sa);
    ff_fwd(m, st, ENC, l, p.enc_x.data(), Te, p.enc[l].ff);
  }
  p.enc_rstd.resize(Te);
  p.enc_out.resize((size_t)Te * D);
  m.be().rmsnorm_forward(p.enc_out.data(), p.enc_rstd.data(), p.enc_x.data(), m.enc_final.data(), Te, D, (float)c.eps);
}

void t5_decode(const T5Model& m, const T5Stack& st, const int32_t* ids, int Td, T5Pass& p) {
  if (Td <= 0) throw EngineError("E_ENGINE", "t5: the decoder input is empty (at least decoder_start is needed)");
  check_ids(m, ids, Td, "decoder ids");
  const int D = m.D(), L = m.layers(DEC);
  const T5Config& c = m.cfg;
  p.Td = Td;
  p.dec.resize(L);
  position_bias(p.dec_bias, m.dec_rel.data(), c.num_heads, Td, Td, 0, false, c.num_buckets, c.max_distance);
  p.dec_x.resize((size_t)Td * D);
  m.be().embed_rows(p.dec_x.data(), m.shared.data(), ids, Td, D);
  for (int l = 0; l < L; l++) {
    attn_fwd(m, st, DEC, l, false, p.dec_x.data(), Td, nullptr, Td, p.dec_bias.data(), true, p.dec[l].sa);
    attn_fwd(m, st, DEC, l, true, p.dec_x.data(), Td, p.enc_out.data(), p.Te, nullptr, false, p.dec[l].ca);
    ff_fwd(m, st, DEC, l, p.dec_x.data(), Td, p.dec[l].ff);
  }
  p.dec_rstd.resize(Td);
  p.dec_h.resize((size_t)Td * D);
  m.be().rmsnorm_forward(p.dec_h.data(), p.dec_rstd.data(), p.dec_x.data(), m.dec_final.data(), Td, D, (float)c.eps);
  if (m.head_scale() != 1.f) m.be().scale_inplace(p.dec_h.data(), p.dec_h.size(), m.head_scale());
}

void t5_backward(const T5Model& m, const T5Stack& st, T5Pass& p, const float* dh_in, T5Adapter& grad) {
  const int D = m.D(), Td = p.Td, Te = p.Te;
  std::vector<float> dh(dh_in, dh_in + (size_t)Td * D);
  if (m.head_scale() != 1.f) m.be().scale_inplace(dh.data(), dh.size(), m.head_scale());
  std::vector<float> dy((size_t)Td * D, 0.f), denc((size_t)Te * D, 0.f);
  m.be().rmsnorm_backward(dy.data(), dh.data(), p.dec_x.data(), m.dec_final.data(), p.dec_rstd.data(), Td, D);
  for (int l = m.layers(DEC) - 1; l >= 0; l--) {
    ff_bwd(m, st, DEC, l, dy.data(), Td, p.dec[l].ff, grad);
    attn_bwd(m, st, DEC, l, true, dy.data(), Td, p.enc_out.data(), denc.data(), Te, false, p.dec[l].ca, grad);
    attn_bwd(m, st, DEC, l, false, dy.data(), Td, nullptr, nullptr, Td, true, p.dec[l].sa, grad);
  }
  std::vector<float> dx((size_t)Te * D, 0.f);
  m.be().rmsnorm_backward(dx.data(), denc.data(), p.enc_x.data(), m.enc_final.data(), p.enc_rstd.data(), Te, D);
  for (int l = m.layers(ENC) - 1; l >= 0; l--) {
    ff_bwd(m, st, ENC, l, dx.data(), Te, p.enc[l].ff, grad);
    attn_bwd(m, st, ENC, l, false, dx.data(), Te, nullptr, nullptr, Te, false, p.enc[l].sa, grad);
  }
}

void t5_cache_init(const T5Model& m, const T5Stack& st, const T5Pass& enc, int max_len, T5DecodeCache& c) {
  const int L = m.layers(DEC), I = m.cfg.inner();
  c.Te = enc.Te;
  c.len = 0;
  c.max_len = max_len;
  c.ck.assign(L, {});
  c.cv.assign(L, {});
  c.sk.assign(L, std::vector<float>((size_t)max_len * I));
  c.sv.assign(L, std::vector<float>((size_t)max_len * I));
  for (int l = 0; l < L; l++) {
    c.ck[l].resize((size_t)enc.Te * I);
    c.cv[l].resize((size_t)enc.Te * I);
    proj_fwd(m, st, DEC, l, C_K, c.ck[l].data(), enc.enc_out.data(), enc.Te, nullptr);
    proj_fwd(m, st, DEC, l, C_V, c.cv[l].data(), enc.enc_out.data(), enc.Te, nullptr);
  }
}

void t5_decode_step(const T5Model& m, const T5Stack& st, T5DecodeCache& c, int32_t id, std::vector<float>& logits) {
  if (c.len >= c.max_len) throw EngineError("E_ENGINE", "t5: the decoder cache is full");
  check_ids(m, &id, 1, "decoder id");
  const T5Config& cf = m.cfg;
  const int D = m.D(), I = cf.inner(), pos = c.len, nh = cf.num_heads;
  std::vector<float> x(D), n(D), q(I), att(I), o(D), rstd(1), P((size_t)nh * std::max(pos + 1, c.Te)), bias;
  m.be().embed_rows(x.data(), m.shared.data(), &id, 1, D);
  position_bias(bias, m.dec_rel.data(), nh, 1, pos + 1, pos, false, cf.num_buckets, cf.max_distance);
  const float eps = (float)cf.eps;
  for (int l = 0; l < m.layers(DEC); l++) {
    const T5Block& B = m.blocks[DEC][l];
    m.be().rmsnorm_forward(n.data(), rstd.data(), x.data(), B.ln_sa.data(), 1, D, eps);
    proj_fwd(m, st, DEC, l, S_Q, q.data(), n.data(), 1, nullptr);
    proj_fwd(m, st, DEC, l, S_K, c.sk[l].data() + (size_t)pos * I, n.data(), 1, nullptr);
    proj_fwd(m, st, DEC, l, S_V, c.sv[l].data() + (size_t)pos * I, n.data(), 1, nullptr);
    attention_forward(att.data(), P.data(), q.data(), c.sk[l].data(), c.sv[l].data(), bias.data(),
                      AttnDims{1, pos + 1, nh, cf.d_kv, pos, true});
    proj_fwd(m, st, DEC, l, S_O, o.data(), att.data(), 1, nullptr);
    m.be().add_inplace(x.data(), o.data(), 1, D);
    m.be().rmsnorm_forward(n.data(), rstd.data(), x.data(), B.ln_ca.data(), 1, D, eps);
    proj_fwd(m, st, DEC, l, C_Q, q.data(), n.data(), 1, nullptr);
    attention_forward(att.data(), P.data(), q.data(), c.ck[l].data(), c.cv[l].data(), nullptr,
                      AttnDims{1, c.Te, nh, cf.d_kv, 0, false});
    proj_fwd(m, st, DEC, l, C_O, o.data(), att.data(), 1, nullptr);
    m.be().add_inplace(x.data(), o.data(), 1, D);
    FFSave fs;
    ff_fwd(m, st, DEC, l, x.data(), 1, fs);
  }
  m.be().rmsnorm_forward(n.data(), rstd.data(), x.data(), m.dec_final.data(), 1, D, eps);
  if (m.head_scale() != 1.f) m.be().scale_inplace(n.data(), D, m.head_scale());
  logits.resize(cf.vocab_size);
  m.be().gemv_rows_f32(m.head(), cf.vocab_size, D, n.data(), 1, logits.data());
  c.len++;
}

} // namespace peft::t5
