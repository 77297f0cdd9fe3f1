"""Run directories are self-describing: saved with their code, they load with trust_remote_code=True
in a Python process that cannot import attnlab, and compute what the original model computed."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoModelForCausalLM
from transformers.dynamic_module_utils import get_imports

import attnlab.models  # noqa: F401  (registers the Auto classes)
from attnlab.icl_regression.model import ICLAttention, ICLConfig
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM
from attnlab.ocr.model import OCRConfig, OCRTransformer
from attnlab.remote_code import flatten_source

LM_MECHANISMS = {"softmax": {}, "sliding_window": {"window": 3}}

# Runs in a fresh interpreter, cwd outside the repository, PYTHONPATH unset, and attnlab made
# unimportable even where it is installed: everything must come from the run directories.
LOADER = textwrap.dedent("""
    import sys
    sys.modules["attnlab"] = None  # any `import attnlab...` now raises ImportError
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel, AutoModelForCausalLM

    inputs, out = load_file("inputs.safetensors"), {}
    for name in sys.argv[1:]:
        auto = AutoModelForCausalLM if name.startswith("lm_") else AutoModel
        model = auto.from_pretrained(name, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules."), type(model)
        with torch.no_grad():
            if name.startswith("lm_"):
                out[name] = model(inputs["lm_ids"]).logits
                out[name + "_generated"] = model.generate(inputs["lm_prompt"], max_new_tokens=4, do_sample=False)
            elif name == "ocr":
                out[name] = model(inputs["ocr_ids"]).logits
            else:
                out[name] = model(inputs["icl_z"], inputs["icl_zq"])
        if name == "lm_sliding_window":  # saved again from its own code, it still loads
            model.save_pretrained("resaved")
            again = AutoModelForCausalLM.from_pretrained("resaved", trust_remote_code=True)
            with torch.no_grad():
                out["resaved"] = again(inputs["lm_ids"]).logits
    save_file({k: v.contiguous() for k, v in out.items()}, "outputs.safetensors")
    print("loaded", sorted(out), "modules:", sorted(m for m in sys.modules if m.startswith("transformers_modules")))
""")


def tiny_models():
    torch.manual_seed(0)
    models = {f"lm_{mech}": AttnLMForCausalLM(AttnLMConfig(vocab_size=16, n_positions=32, n_embd=16, n_layer=2,
                                                            n_head=2, attention=mech, attention_options=opts))
              for mech, opts in LM_MECHANISMS.items()}
    models["ocr"] = OCRTransformer(OCRConfig(vocab_size=20, head_dim=4, init_std=0.5))
    with torch.no_grad():
        models["ocr"].w_kq.normal_()  # zero at initialisation: make the attention matter
    models["icl"] = ICLAttention(ICLConfig(d=3, heads=2, mechanism="softmax", train_length=6))
    return {k: m.eval() for k, m in models.items()}


def outputs(models, inputs):
    out = {}
    with torch.no_grad():
        for name, model in models.items():
            if name.startswith("lm_"):
                out[name] = model(inputs["lm_ids"]).logits
                out[name + "_generated"] = model.generate(inputs["lm_prompt"], max_new_tokens=4, do_sample=False)
            elif name == "ocr":
                out[name] = model(inputs["ocr_ids"]).logits
            else:
                out[name] = model(inputs["icl_z"], inputs["icl_zq"])
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    models = tiny_models()
    for name, model in models.items():
        model.save_pretrained(root / name)
    g = torch.Generator().manual_seed(1)
    inputs = {"lm_ids": torch.randint(0, 16, (3, 10), generator=g), "lm_prompt": torch.tensor([[1, 5, 9, 2]]),
              "ocr_ids": torch.randint(0, 20, (4, 2), generator=g),
              "icl_z": torch.randn(5, 6, 4, generator=g), "icl_zq": torch.randn(5, 4, generator=g)}
    inputs["icl_zq"][:, -1] = 0
    save_file(inputs, str(root / "inputs.safetensors"))
    return root, models, inputs


def test_run_dirs_load_without_attnlab(saved, repo):
    root, models, inputs = saved
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(root / "hf_modules"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    assert repo.resolve() not in root.resolve().parents
    done = subprocess.run([sys.executable, "-c", LOADER, *models], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    got, want = load_file(str(root / "outputs.safetensors")), outputs(models, inputs)
    want["resaved"] = want["lm_sliding_window"]
    assert set(got) == set(want)
    for name in want:
        if name.endswith("_generated"):
            assert torch.equal(got[name], want[name]), name
            assert 4 < got[name].shape[1] <= 8  # the prompt and up to 4 new tokens (EOS stops early)
        else:
            torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6, msg=name)


def test_run_dir_holds_flat_code_and_auto_map(saved):
    root, models, _ = saved
    config = AutoModelForCausalLM.from_pretrained(root / "lm_sliding_window").config
    assert config.auto_map == {"AutoConfig": "attnlab_lm_configuration.AttnLMConfig",
                               "AutoModelForCausalLM": "attnlab_lm_modeling.AttnLMForCausalLM"}
    files = {p.name for p in (root / "lm_sliding_window").glob("*.py")}
    # the mechanism the config names is there (the registry imports it by name), no other
    assert "attnlab_attention_sliding_window.py" in files and "attnlab_attention_softmax.py" not in files
    assert AutoModel.from_pretrained(root / "icl").config.auto_map["AutoModel"] == "attnlab_icl_regression_model.ICLAttention"
    for name in models:
        for path in (root / name).glob("*.py"):
            assert "attnlab" not in get_imports(path), path  # every attnlab import became relative


def test_inside_the_project_local_classes_load_without_trust_remote_code(saved):
    root, models, inputs = saved
    lm = AutoModelForCausalLM.from_pretrained(root / "lm_softmax")
    assert type(lm) is AttnLMForCausalLM
    torch.testing.assert_close(lm(inputs["lm_ids"]).logits, models["lm_softmax"](inputs["lm_ids"]).logits)
    assert type(AutoModel.from_pretrained(root / "ocr")) is OCRTransformer
    assert type(AutoModel.from_pretrained(root / "icl")) is ICLAttention


def test_flattening_rewrites_imports_and_keeps_line_numbers():
    from attnlab.remote_code import module_path

    original = module_path("attnlab.lm.modeling").read_text().splitlines()
    flat = flatten_source("attnlab.lm.modeling", {"attnlab.lm.modeling"}).splitlines()
    assert flat[: len(original)] != original and len(flat) == len(original) + 2  # a blank and a note
    assert "from . import attnlab_hooks as hooks" in flat
    assert "from .attnlab_lm_configuration import AttnLMConfig" in flat
    for i, line in enumerate(original):
        if line.startswith("class AttnLMForCausalLM"):
            assert flat[i] == line
    registry = flatten_source("attnlab.attention", {"attnlab.attention.moh"})
    assert "'.attnlab_attention_moh'" in registry and '"attnlab.attention.softmax"' in registry
    assert "importlib.import_module(module, __package__)" in registry


def test_flattening_known_answers():
    source = textwrap.dedent('''\
        """Doc."""
        import importlib
        import os, attnlab.hooks as hk
        from attnlab import hooks, AttnlabError
        from attnlab.attention.base import (Attention,
                                            masked_softmax as ms)
        from .configuration import AttnLMConfig


        def f():
            from attnlab.lm import configuration
            return importlib.import_module("attnlab.attention.moh"), "attnlab.attention.meta", "√"
        ''')
    flat = flatten_source("attnlab.lm.modeling", {"attnlab.attention.moh"}, source).splitlines()
    assert flat[:12] == [
        '"""Doc."""',
        "import importlib",
        "import os; from . import attnlab_hooks as hk",
        "from .attnlab import AttnlabError; from . import attnlab_hooks as hooks",
        "from .attnlab_attention_base import (Attention,",
        "                                    masked_softmax as ms)",
        "from .attnlab_lm_configuration import AttnLMConfig",
        "",
        "",
        "def f():",
        "    from . import attnlab_lm_configuration as configuration",
        "    return importlib.import_module('.attnlab_attention_moh', __package__), \"attnlab.attention.meta\", \"√\"",
    ]
    with pytest.raises(ValueError, match="bare `import attnlab"):
        flatten_source("attnlab.lm.modeling", set(), "import attnlab.hooks\n")


@pytest.mark.parametrize("first", ["attnlab", "transformers"])
def test_import_attnlab_is_enough_in_the_project(saved, repo, first):
    """`import attnlab` imports no torch, yet the Auto classes then load attnlab's own classes
    (without trust_remote_code), whichever of attnlab and transformers is imported first."""
    root, _, _ = saved
    script = textwrap.dedent(f"""
        import sys
        if {first!r} == "attnlab":
            import attnlab
            assert "torch" not in sys.modules and "transformers" not in sys.modules
        from transformers import AutoModel, AutoModelForCausalLM
        import attnlab
        print(type(AutoModelForCausalLM.from_pretrained("lm_softmax")).__module__,
              type(AutoModel.from_pretrained("ocr")).__module__, type(AutoModel.from_pretrained("icl")).__module__)
    """)
    env = {**os.environ, "PYTHONPATH": str(repo / "workflow"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["attnlab.lm.modeling", "attnlab.ocr.model", "attnlab.icl_regression.model"]


def test_every_registered_mechanism_flattens_to_relative_imports(tmp_path):
    """A mechanism file joins a run directory when a model uses it: none may keep an attnlab import."""
    from attnlab.attention import MECHANISMS
    from attnlab.remote_code import closure, flat_name

    modules = closure(["attnlab.lm.modeling", *(module for module, _ in MECHANISMS.values())])
    for name in modules:
        path = tmp_path / f"{flat_name(name)}.py"
        path.write_text(flatten_source(name, set(modules)))
        assert "attnlab" not in get_imports(path), name
