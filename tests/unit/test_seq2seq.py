"""The attnlab encoder–decoder (attnlab.seq2seq): transformers-native round trips, generate() as a
greedy loop, the decoder's causal pattern (CAB's leakage test), the encoder's bidirectional one,
cross-attention that honours the source padding, and training through the shared stack engine."""

import math
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSeq2SeqLM

import attnlab.models  # noqa: F401  (registers the Auto classes)
from attnlab.seq2seq.configuration import AttnSeq2SeqConfig
from attnlab.seq2seq.data import Seq2SeqBatches, Seq2SeqData
from attnlab.seq2seq.modeling import AttnEncoderForMaskedLM, AttnSeq2SeqForConditionalGeneration
from attnlab.tasks.vocab import BOS, PAD
from attnlab.train.stack import train_stack
from attnlab.train.trainer import TrainSettings

# every mechanism that makes sense in each role (local attention: self-attention only)
CROSS = {"softmax": {}, "performer": {"features": 8}, "abc": {"slots": 4}}
SELF = {**CROSS, "sliding_window": {"window": 3}}


def make(seed=0, cls=AttnSeq2SeqForConditionalGeneration, **kw):
    torch.manual_seed(seed)
    kw = {"vocab_size": 40, "n_positions": 32, "n_embd": 32, "n_head": 4, "n_encoder_layer": 2,
          "n_decoder_layer": 2, **kw}
    cfg = AttnSeq2SeqConfig(**kw)
    return cls(cfg).eval()


def source(B=2, S=9, seed=0, pad_from=6):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(8, 40, (B, S), generator=g)
    mask = torch.ones_like(src)
    mask[1, pad_from:] = 0
    src[1, pad_from:] = PAD
    return src, mask


def dec_ids(B=2, T=7, seed=1):
    x = torch.randint(8, 40, (B, T), generator=torch.Generator().manual_seed(seed))
    x[:, 0] = BOS
    return x


def test_save_and_auto_from_pretrained_round_trip(tmp_path):
    model, (src, mask), d = make(), source(), dec_ids()
    with torch.no_grad():
        ref = model(src, mask, decoder_input_ids=d).logits
    model.save_pretrained(tmp_path / "s2s")
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "s2s").eval()
    assert type(loaded) is AttnSeq2SeqForConditionalGeneration
    with torch.no_grad():
        torch.testing.assert_close(loaded(src, mask, decoder_input_ids=d).logits, ref, rtol=0, atol=0)
    mlm = make(cls=AttnEncoderForMaskedLM)
    mlm.save_pretrained(tmp_path / "mlm")
    again = AutoModelForMaskedLM.from_pretrained(tmp_path / "mlm").eval()
    assert type(again) is AttnEncoderForMaskedLM
    with torch.no_grad():
        torch.testing.assert_close(again(src, mask).logits, mlm(src, mask).logits, rtol=0, atol=0)


@pytest.mark.parametrize("role,mech", [("cross", "performer"), ("cross", "abc"), ("encoder", "performer")])
def test_round_trip_keeps_each_mechanisms_own_state(tmp_path, role, mech):
    """Performer's random features are drawn once per model and saved with it."""
    model, (src, mask), d = make(**{f"{role}_attention": mech, f"{role}_attention_options": CROSS[mech]}), \
        source(), dec_ids()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(src, mask, decoder_input_ids=d).logits,
                                   model(src, mask, decoder_input_ids=d).logits, rtol=0, atol=0)


def test_run_directory_loads_without_attnlab(tmp_path):
    model, (src, mask), d = make(cross_attention="abc", cross_attention_options={"slots": 4}), source(), dec_ids()
    model.save_pretrained(tmp_path / "run")
    from safetensors.torch import load_file, save_file
    save_file({"src": src, "mask": mask, "d": d}, str(tmp_path / "inputs.safetensors"))
    script = textwrap.dedent("""
        import sys
        sys.modules["attnlab"] = None
        import torch
        from safetensors.torch import load_file, save_file
        from transformers import AutoModelForSeq2SeqLM
        i = load_file("inputs.safetensors")
        m = AutoModelForSeq2SeqLM.from_pretrained("run", trust_remote_code=True).eval()
        assert type(m).__module__.startswith("transformers_modules."), type(m)
        with torch.no_grad():
            save_file({"logits": m(i["src"], i["mask"], decoder_input_ids=i["d"]).logits.contiguous()}, "out.safetensors")
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HOME"] = str(tmp_path / "hf")
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=True, capture_output=True)
    with torch.no_grad():
        torch.testing.assert_close(load_file(str(tmp_path / "out.safetensors"))["logits"],
                                   model(src, mask, decoder_input_ids=d).logits, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cross", sorted(CROSS))
def test_generate_is_the_greedy_loop(cross):
    model, (src, mask) = make(cross_attention=cross, cross_attention_options=CROSS[cross]), source()
    with torch.no_grad():
        out = model.generate(src, attention_mask=mask, max_new_tokens=6, do_sample=False)
        ids = torch.full((2, 1), BOS)
        for _ in range(6):
            nxt = model(src, mask, decoder_input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
    assert out.shape[1] >= 2
    for b in range(2):  # generate stops a row at EOS (7) and pads after it: compare up to its end
        row = out[b].tolist()
        n = row.index(7) + 1 if 7 in row[1:] else len(row)
        assert row[:n] == ids[b, :n].tolist()


@pytest.mark.parametrize("mech", sorted(SELF))
@pytest.mark.parametrize("cross", sorted(CROSS))
def test_decoder_never_sees_its_future(mech, cross):
    """CAB's leakage test on the decoder (causal self + cross): perturbing decoder inputs from t on
    leaves every earlier output unchanged."""
    model = make(decoder_attention=mech, decoder_attention_options=SELF[mech], cross_attention=cross,
                 cross_attention_options=CROSS[cross])
    (src, mask), d = source(), dec_ids()
    with torch.no_grad():
        base = model(src, mask, decoder_input_ids=d).logits
        for t in range(1, d.shape[1]):
            y = d.clone()
            y[:, t:] = torch.randint(8, 40, (2, d.shape[1] - t), generator=torch.Generator().manual_seed(t))
            out = model(src, mask, decoder_input_ids=y).logits
            assert (out[:, :t] - base[:, :t]).abs().max() < 1e-5, (mech, cross, t)
            assert (out[:, t:] - base[:, t:]).abs().max() > 1e-5


def test_noncausal_decoder_sees_all_its_inputs():
    model, (src, mask), d = make(decoder_causal=False), source(), dec_ids()
    y = d.clone()
    y[:, -1] = (d[:, -1] - 8 + 1) % 32 + 8
    with torch.no_grad():
        delta = (model(src, mask, decoder_input_ids=y).logits - model(src, mask, decoder_input_ids=d).logits)
    assert delta[:, 0].abs().max() > 1e-4


@pytest.mark.parametrize("mech", sorted(SELF))
def test_encoder_is_bidirectional(mech):
    model, (src, mask) = make(encoder_attention=mech, encoder_attention_options=SELF[mech]), source()
    y = src.clone()
    y[0, 2] = (src[0, 2] - 8 + 1) % 32 + 8
    with torch.no_grad():
        a, b = model.encoder(src, mask).last_hidden_state, model.encoder(y, mask).last_hidden_state
    assert (a[0, :2] - b[0, :2]).abs().max() > 1e-4  # earlier positions see a later token


@pytest.mark.parametrize("cross", sorted(CROSS))
@pytest.mark.parametrize("enc", sorted(CROSS))
def test_padded_source_tokens_are_invisible(cross, enc):
    """Changing the padded source tokens changes no output, and the cross pattern puts no mass on
    them; the row without padding is unaffected by the other row's padding."""
    model = make(encoder_attention=enc, encoder_attention_options=CROSS[enc], cross_attention=cross,
                 cross_attention_options=CROSS[cross])
    (src, mask), d = source(pad_from=5), dec_ids()
    y = src.clone()
    y[1, 5:] = torch.randint(8, 40, (4,), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = model(src, mask, decoder_input_ids=d, output_attentions=True)
        b = model(y, mask, decoder_input_ids=d)
        alone = model(src[1:, :5], decoder_input_ids=d[1:]).logits
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.logits[1:], alone, rtol=0, atol=1e-5)  # = the unpadded source alone
    for p in a.cross_attentions:
        assert p.shape == (2, 4, 7, 9)
        assert p[1, :, :, 5:].abs().max() == 0
        torch.testing.assert_close(p.sum(-1), torch.ones(2, 4, 7))


@pytest.mark.parametrize("cross", sorted(CROSS))
def test_cross_attention_queries_do_not_interact(cross):
    """CAB's causal-cross check: perturbing later queries leaves earlier cross outputs unchanged."""
    model = make(cross_attention=cross, cross_attention_options=CROSS[cross])
    block = model.decoder_blocks[0]
    from attnlab.attention.patterns import full_context
    x, mem = torch.randn(2, 7, 32), torch.randn(2, 9, 32)
    ctx = full_context(torch.arange(7).expand(2, 7), n_keys=9)
    with torch.no_grad():
        base, _ = block.cross_attn(x, mem, ctx)
        for t in range(1, 7):
            y = x.clone()
            y[:, t:] = torch.randn(2, 7 - t, 32)
            out, _ = block.cross_attn(y, mem, ctx)
            assert (out[:, :t] - base[:, :t]).abs().max() < 1e-6


def test_masked_lm_scores_own_positions():
    model, (src, mask) = make(cls=AttnEncoderForMaskedLM), source()
    labels = torch.full_like(src, -100)
    labels[0, 3] = 12
    out = model(src, mask, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits[0, 3:4], torch.tensor([12]))
    torch.testing.assert_close(out.loss, expected)


def copy_frame(n, seed):
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        s = torch.randint(8, 16, (5,), generator=g).tolist()
        rows.append({"input_ids": s, "target_ids": s[::-1] + [7]})
    return pd.DataFrame(rows)


def test_trains_through_the_shared_stack_engine(tmp_path):
    """Two members (softmax and abc cross-attention) in one loop-engine stack learn to reverse."""
    models = [make(seed=s, cross_attention=c, cross_attention_options=CROSS[c], n_positions=16, n_encoder_layer=1,
                   n_decoder_layer=1).train() for s, c in ((0, "softmax"), (1, "abc"))]
    data = Seq2SeqData(copy_frame(256, 0))
    batch = data.collate(range(3))
    assert batch["labels"].shape == (3, 6) and batch["attention_mask"].all()
    s = TrainSettings(steps=40, batch_size=32, lr=3e-3, warmup_steps=5, log_every=10)
    logs = train_stack(models, [Seq2SeqBatches(data, 32, i) for i in range(2)], s, tmp_path, engine="loop",
                       progress=False)
    for log in logs:  # from ln(40) = 3.7 at initialisation
        assert [r["step"] for r in log] == [10, 20, 30, 40] and log[-1]["loss"] < 0.6 * math.log(40)
    for m, d in zip(models, ("a", "b")):  # the trained members save and load as run directories
        m.save_pretrained(tmp_path / d)
        assert type(AutoModelForSeq2SeqLM.from_pretrained(tmp_path / d)) is AttnSeq2SeqForConditionalGeneration
