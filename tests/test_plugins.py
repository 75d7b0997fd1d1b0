"""The plugin manager with real pluggy managers and real entry points (throwaway dist-info folders)."""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import audiogan
from audiogan.cli import main
from audiogan.errors import ConfigError, PluginError
from audiogan.plugins import (
    BUILTIN_DISTRIBUTION,
    PluginWarning,
    clear_registry_cache,
    get_registry,
    load_registry,
    plugin_of,
)
from audiogan.testing import tiny_features

_COUNTER = itertools.count()

#: The built-in plugins as audiogan's own installed metadata declares them: entry point -> module.
BUILTINS = {
    ep.name: ep.value
    for ep in importlib.metadata.distribution(BUILTIN_DISTRIBUTION).entry_points
    if ep.group == "audiogan"
}

# A small but real generator + discriminator pair, with the component name filled in per test.
PLUGIN_SOURCE = '''
import dataclasses
import torch
import audiogan


class Gen(audiogan.Generator):
    """Test generator from {module}."""

    name = "{name}"

    @dataclasses.dataclass
    class Config:
        """Hyperparameters."""

        width: int = 4  # hidden width

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        if self.config.width == 13:
            raise RuntimeError("unlucky width")
        self.latent_dim = 2
        self.cell = torch.nn.GRUCell(2, self.config.width)
        self.out = torch.nn.Linear(self.config.width, feature_config.n_mels)

    def forward(self, z, labels, n_frames, state=None):
        h = torch.zeros(z.shape[0], self.config.width) if state is None else state
        frames = []
        for _ in range(n_frames):
            h = self.cell(z, h)
            frames.append(torch.tanh(self.out(h)))
        return torch.stack(frames, 1), h


class Disc(audiogan.Discriminator):
    """Test discriminator from {module}."""

    name = "{name}"

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        self.lin = torch.nn.Linear(feature_config.n_mels, 1)

    def forward(self, frames, labels):
        logits = self.lin(frames).squeeze(-1)
        return logits, [logits]


@audiogan.hookimpl
def register_generators():
    return [Gen]


@audiogan.hookimpl
def register_discriminators():
    return [Disc]
'''


def _module_name(tag: str) -> str:
    return f"agtest_{tag}_{next(_COUNTER)}"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A temporary sys.path entry where tests write modules and ``*.dist-info`` folders."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:  # forget the throwaway modules
        if name.startswith("agtest_"):
            del sys.modules[name]


def write_module(site: Path, module: str, source: str) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source))


def write_dist(site: Path, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """A minimal installed distribution: METADATA + entry_points.txt, as pip would leave it."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[audiogan]"] + [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def installed_plugin(
    site: Path, ep_name: str, component: str, dist: str = "agtest-dist", version: str = "1.2.3"
) -> str:
    module = _module_name(ep_name.replace("-", "_"))
    write_module(site, module, PLUGIN_SOURCE.format(name=component, module=module))
    write_dist(site, dist, version, {ep_name: module})
    return module


# --------------------------------------------------------------------------- built-ins and lookups


def test_builtins_are_registered_like_third_party_plugins():
    registry = get_registry()
    assert "griffinlim" in registry.names("vocoder")
    assert {"lstm", "gru"} <= set(registry.names("generator")) & set(registry.names("discriminator"))
    assert set(BUILTINS) == {"griffinlim", "rnn", "istft_vocoder"}
    for plugin, module in BUILTINS.items():
        assert registry.manager.get_plugin(plugin) is sys.modules[module]
        assert [p.source for p in registry.plugins if p.name == plugin] == ["builtin"]
    info = registry.info("generator", "lstm")
    assert (info.plugin, info.distribution, info.version, info.builtin) == (
        "rnn",
        "audiogan",
        audiogan.__version__,
        True,
    )
    assert info.description and "\n" not in info.description
    assert plugin_of(info.cls) == "rnn"


def test_registry_is_cached_per_arguments_and_environment(monkeypatch):
    assert get_registry() is get_registry()
    assert get_registry(strict=False) is not get_registry(strict=True)
    first = get_registry()
    monkeypatch.setenv("AUDIOGAN_DISABLE_PLUGINS", "griffinlim")
    assert "griffinlim" not in get_registry().names("vocoder")
    monkeypatch.delenv("AUDIOGAN_DISABLE_PLUGINS")
    assert get_registry() is first
    clear_registry_cache()
    assert get_registry() is not first


def test_unknown_name_lists_the_available_names():
    with pytest.raises(ConfigError) as err:
        get_registry().get("vocoder", "hifigan")
    message = str(err.value)
    assert "hifigan" in message and "griffinlim" in message and "\n" not in message
    with pytest.raises(ConfigError, match="unknown component kind 'vocoders'"):
        get_registry().names("vocoders")


def test_build_checks_config_and_names_the_plugin_on_failure(site):
    module = installed_plugin(site, "builder", "bld")
    registry = get_registry()
    fc = tiny_features()
    g = registry.build("generator", "bld", {"width": 3}, fc, 0)
    assert g.config.width == 3 and plugin_of(g) == "builder"
    assert registry.build("generator", "bld", None, fc).config.width == 4
    config = registry.get("generator", "bld").Config(width=5)
    assert registry.build("generator", "bld", config, fc).config is config
    with pytest.raises(ConfigError, match="unknown key generator.depth"):
        registry.build("generator", "bld", {"depth": 2}, fc)
    with pytest.raises(ConfigError, match="generator.width"):
        registry.build("generator", "bld", {"width": "wide"}, fc)
    with pytest.raises(
        PluginError, match="plugin 'builder' failed to build generator 'bld': RuntimeError: unlucky width"
    ):
        registry.build("generator", "bld", {"width": 13}, fc)
    assert module in sys.modules


# --------------------------------------------------------------------------- entry points


def test_entry_point_plugin_is_discovered_with_its_distribution(site):
    module = installed_plugin(site, "mygan", "tiny-gru", dist="audiogan-mygan", version="0.4.2")
    registry = get_registry()
    info = registry.info("generator", "tiny-gru")
    assert (info.plugin, info.distribution, info.version, info.builtin) == (
        "mygan",
        "audiogan-mygan",
        "0.4.2",
        False,
    )
    assert info.description == f"Test generator from {module}."
    assert registry.get("discriminator", "tiny-gru").__module__ == module
    assert [p for p in registry.plugins if p.name == "mygan"][0].source == "entry point"


def test_builtins_listed_again_as_entry_points_are_not_duplicated(site):
    """audiogan's own metadata seen twice on sys.path (an installed copy and a build) registers once."""
    write_dist(site, "audiogan", audiogan.__version__, BUILTINS)
    module = installed_plugin(site, "alias-one", "aliased", dist="alias-dist")
    write_dist(site, "alias-dist-two", "1.0", {"alias-two": module})  # the same module under a second name
    registry = get_registry()
    assert registry.info("vocoder", "griffinlim").builtin
    assert registry.info("generator", "aliased").plugin in ("alias-one", "alias-two")  # scan order decides
    assert len(registry.plugins) == len(BUILTINS) + 1


def test_entry_point_that_fails_to_import_warns_or_raises_when_strict(site):
    write_module(site, "agtest_broken_ep", "import agtest_no_such_dependency\n")
    write_dist(site, "broken-dist", "2.0", {"broken": "agtest_broken_ep"})
    installed_plugin(site, "fine", "still-works", dist="fine-dist")
    with pytest.warns(
        PluginWarning, match=r"entry point 'broken' .*distribution broken-dist 2.0 failed to import"
    ):
        registry = get_registry(strict=False)
    assert "still-works" in registry.names("generator")  # everything else keeps working
    assert len(registry.failures) == 1 and "agtest_no_such_dependency" in registry.failures[0]
    with pytest.raises(
        PluginError, match=r"entry point 'broken' .*broken-dist 2.0.*AUDIOGAN_DISABLE_PLUGINS=broken"
    ):
        get_registry(strict=True)


def test_strict_defaults_to_the_environment(site, monkeypatch):
    write_module(site, "agtest_broken_env", "raise RuntimeError('bad plugin')\n")
    write_dist(site, "broken-env", "1.0", {"brokenenv": "agtest_broken_env"})
    monkeypatch.setenv("AUDIOGAN_STRICT", "1")
    with pytest.raises(PluginError, match="brokenenv"):
        get_registry()
    monkeypatch.setenv("AUDIOGAN_STRICT", "0")
    with pytest.warns(PluginWarning, match="RuntimeError: bad plugin"):
        get_registry()


def test_allow_list_and_deny_list(site, monkeypatch):
    installed_plugin(site, "alpha", "a-gen", dist="alpha-dist")
    installed_plugin(site, "beta", "b-gen", dist="beta-dist")
    monkeypatch.setenv("AUDIOGAN_LOAD_PLUGINS", "")
    names = get_registry().names("generator")
    assert "a-gen" not in names and "b-gen" not in names and "lstm" in names  # built-ins only
    monkeypatch.setenv("AUDIOGAN_LOAD_PLUGINS", "beta")
    names = get_registry().names("generator")
    assert "a-gen" not in names and "b-gen" in names
    monkeypatch.delenv("AUDIOGAN_LOAD_PLUGINS")
    monkeypatch.setenv("AUDIOGAN_DISABLE_PLUGINS", "alpha, rnn")
    names = get_registry().names("generator")
    assert "a-gen" not in names and "b-gen" in names and "lstm" not in names


# --------------------------------------------------------------------------- local plugins


def test_plugin_from_file_module_and_environment(site, tmp_path, monkeypatch):
    file_plugin = tmp_path / "my_local_plugin.py"
    file_plugin.write_text(PLUGIN_SOURCE.format(name="from-file", module="file"))
    module = _module_name("dotted")
    write_module(site, module, PLUGIN_SOURCE.format(name="from-module", module=module))
    registry = get_registry([str(file_plugin), module])
    assert registry.info("generator", "from-file").plugin == str(file_plugin)
    assert registry.info("generator", "from-file").distribution is None
    assert registry.info("generator", "from-module").plugin == module
    # The class is importable through sys.modules, so its Config round-trips through from_dict.
    g = registry.build("generator", "from-file", {"width": 2}, tiny_features())
    assert g(torch.zeros(1, 2), None, 3)[0].shape == (1, 3, 16)
    monkeypatch.setenv("AUDIOGAN_PLUGINS", module)
    registry = get_registry([module])  # named twice (environment and --plugin): loaded once
    assert registry.info("generator", "from-module").plugin == module


@pytest.mark.parametrize(
    "spec, message",
    [
        ("agtest_no_such_plugin_module", "plugin module not found: agtest_no_such_plugin_module"),
        ("missing/plugin.py", "plugin file not found: missing/plugin.py"),
    ],
)
def test_missing_local_plugin_is_a_one_line_error(spec, message):
    with pytest.raises(PluginError) as err:
        get_registry([spec])
    assert str(err.value) == message


def test_local_plugin_that_fails_to_import_names_the_file(tmp_path):
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("import agtest_missing_dependency\n")
    with pytest.raises(
        PluginError, match=r"plugin file .*bad_plugin.py failed to import: ModuleNotFoundError"
    ):
        get_registry([str(bad)])


# --------------------------------------------------------------------------- broken hooks

BASE = """
import dataclasses
import torch
import audiogan
from audiogan_plugins.griffinlim import GriffinLimVocoder
"""

BROKEN = {
    "raises": (
        "@audiogan.hookimpl\ndef register_vocoders():\n    raise KeyError('oops')\n",
        r"plugin '{p}' failed in register_vocoders: KeyError: 'oops'",
    ),
    "not-a-list": (
        "@audiogan.hookimpl\ndef register_vocoders():\n    return GriffinLimVocoder\n",
        r"plugin '{p}': register_vocoders must return a list of classes",
    ),
    "wrong-base": (
        "@audiogan.hookimpl\ndef register_generators():\n    return [GriffinLimVocoder]\n",
        r"plugin '{p}' returned from register_generators .*not a subclass of audiogan.Generator",
    ),
    "no-name": (
        'class V(GriffinLimVocoder):\n    """No name."""\n    name = ""\n'
        "@audiogan.hookimpl\ndef register_vocoders():\n    return [V]\n",
        r"plugin '{p}' returned from register_vocoders V without a name",
    ),
    "no-doc": (
        'class V(GriffinLimVocoder):\n    name = "nodoc"\n'
        "@audiogan.hookimpl\ndef register_vocoders():\n    return [V]\n",
        r"plugin '{p}' .*V \('nodoc'\) without a docstring",
    ),
    "abstract": (
        'class V(audiogan.Vocoder):\n    """Abstract."""\n    name = "abs"\n'
        "@audiogan.hookimpl\ndef register_vocoders():\n    return [V]\n",
        r"plugin '{p}' .*abstract: implement forward",
    ),
    "config-without-defaults": (
        'class V(GriffinLimVocoder):\n    """Bad config."""\n    name = "badcfg"\n'
        "    @dataclasses.dataclass\n    class Config:\n        needed: int\n"
        "@audiogan.hookimpl\ndef register_vocoders():\n    return [V]\n",
        r"plugin '{p}' .*Config has fields without defaults",
    ),
    "config-not-dataclass": (
        'class V(GriffinLimVocoder):\n    """Bad config."""\n    name = "nodc"\n'
        "    class Config:\n        pass\n"
        "@audiogan.hookimpl\ndef register_vocoders():\n    return [V]\n",
        r"plugin '{p}' .*Config is not a dataclass",
    ),
    "trainable-without-fit": (
        'class V(GriffinLimVocoder):\n    """Claims to train."""\n    name = "nofit"\n    trainable = True\n'
        "@audiogan.hookimpl\ndef register_vocoders():\n    return [V]\n",
        r"plugin '{p}' .*trainable but without a fit\(\) method",
    ),
    "unknown-hook": (
        "@audiogan.hookimpl\ndef register_vocoder():\n    return []\n",
        r"plugin '{p}' implements an unknown hook register_vocoder; the hooks are: register_discriminators, ",
    ),
    "bad-signature": (
        "@audiogan.hookimpl\ndef register_vocoders(config):\n    return []\n",
        r"plugin '{p}' is invalid: .*config",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_errors_name_the_plugin_and_hook(site, case):
    body, pattern = BROKEN[case]
    module = _module_name(case.replace("-", "_"))
    write_module(site, module, BASE + body)
    with pytest.raises(PluginError, match=pattern.format(p=module)) as err:
        load_registry([module])
    assert "\n" not in str(err.value)


def test_duplicate_names_name_both_plugins(site):
    first = installed_plugin(site, "first", "twin", dist="first-dist")
    second = _module_name("second")
    write_module(site, second, PLUGIN_SOURCE.format(name="twin", module=second))
    with pytest.raises(
        PluginError,
        match=r"two generators named 'twin': one from plugin 'first' .*one from plugin '" + second,
    ):
        get_registry([second])
    clash = _module_name("clash")
    write_module(
        site,
        clash,
        BASE + 'class V(GriffinLimVocoder):\n    """Imposter."""\n'
        "@audiogan.hookimpl\ndef register_vocoders():\n    return [V]\n",
    )
    with pytest.raises(PluginError, match=r"two vocoders named 'griffinlim': one from plugin 'griffinlim'"):
        get_registry([clash])
    assert first in sys.modules


# --------------------------------------------------------------------------- the command


def test_plugins_command_table_and_all(site, capsys):
    installed_plugin(site, "listed", "listed-gen", dist="listed-dist", version="9.9")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("built-in (audiogan") and "griffinlim" in out[0]
    rows = sorted(line.split()[:5] for line in out if line.startswith("listed-gen"))
    assert rows == [
        ["listed-gen", kind, "listed", "listed-dist", "9.9"] for kind in ("discriminator", "generator")
    ]
    assert not any(line.startswith("griffinlim ") for line in out)
    assert main(["plugins", "--all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.split()[:3] == ["griffinlim", "vocoder", "griffinlim"] for line in out)


def test_plugins_command_errors_are_one_line(capsys):
    assert main(["plugins", "--plugin", "nowhere/plugin.py"]) == 2
    assert capsys.readouterr().err == "audiogan: error: plugin file not found: nowhere/plugin.py\n"


def test_plugins_json_from_the_real_entry_point(tmp_path):
    local = tmp_path / "json_plugin.py"
    local.write_text(PLUGIN_SOURCE.format(name="json-gen", module="json"))
    result = subprocess.run(
        [sys.executable, "-m", "audiogan", "plugins", "--json", "--plugin", str(local)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    by_key = {(item["kind"], item["name"]): item for item in items}
    assert by_key[("vocoder", "griffinlim")]["builtin"] is True
    assert by_key[("vocoder", "griffinlim")]["distribution"] == "audiogan"
    local_gen = by_key[("generator", "json-gen")]
    assert (
        local_gen["plugin"] == str(local)
        and local_gen["distribution"] is None
        and local_gen["builtin"] is False
    )
    assert set(local_gen) == {
        "name",
        "kind",
        "plugin",
        "distribution",
        "version",
        "description",
        "builtin",
        "class",
    }


# --------------------------------------------------------------------------- one test per hook

ONE_HOOK = {
    "register_generators": ("generator", "from audiogan_elman import ElmanGenerator as C\n"),
    "register_discriminators": ("discriminator", "from audiogan_elman import ElmanDiscriminator as C\n"),
    "register_vocoders": (
        "vocoder",
        "from audiogan_plugins.griffinlim import GriffinLimVocoder\n"
        'class C(GriffinLimVocoder):\n    """Griffin-Lim, 8 iterations."""\n    name = \'gl8\'\n',
    ),
}
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "plugin-elman"


def _one_hook(site, monkeypatch, hook):
    """A plugin implementing only ``hook``; its class must come back under its own name."""
    kind, body = ONE_HOOK[hook]
    monkeypatch.syspath_prepend(str(SAMPLE))
    module = _module_name(hook)
    write_module(
        site, module, f"import audiogan\n{body}\n@audiogan.hookimpl\ndef {hook}():\n    return [C]\n"
    )
    registry = get_registry([module])
    cls = sys.modules[module].C
    info = registry.info(kind, cls.name)
    assert info.cls is cls and info.plugin == module
    assert registry.manager.get_plugin(module) is sys.modules[module]
    # The plugin contributes to exactly this hook.
    assert [impl.plugin_name for impl in getattr(registry.manager.hook, hook).get_hookimpls()][-1] == module
    others = [k for k in ("generator", "discriminator", "vocoder") if k != kind]
    assert all(c.plugin != module for k in others for c in registry.components(k))
    return registry.build(kind, cls.name, None, tiny_features(), 2)


def test_hook_register_generators(site, monkeypatch):
    g = _one_hook(site, monkeypatch, "register_generators")
    frames, state = g(torch.randn(2, g.latent_dim), torch.tensor([0, 1]), 4)
    assert frames.shape == (2, 4, 16) and state is not None


def test_hook_register_discriminators(site, monkeypatch):
    d = _one_hook(site, monkeypatch, "register_discriminators")
    logits, features = d(torch.randn(2, 4, 16), torch.tensor([0, 1]))
    assert logits.shape == (2, 4) and len(features) == 1


def test_hook_register_vocoders(site, monkeypatch):
    v = _one_hook(site, monkeypatch, "register_vocoders")
    assert v(torch.full((1, 16, 5), -3.0)).shape == (1, 4 * 64)


# --------------------------------------------------------------------------- one way in, ordering


def test_broken_builtin_entry_point_is_an_error_even_when_not_strict(site):
    write_dist(site, "audiogan", audiogan.__version__, {"agtest_gone": "agtest_no_such_builtin"})
    with pytest.raises(PluginError, match=r"built-in plugin 'agtest_gone' .* failed to import"):
        load_registry(strict=False)


def test_allow_list_never_drops_the_builtins(site, monkeypatch):
    installed_plugin(site, "third", "third-gen", dist="third-dist")
    monkeypatch.setenv("AUDIOGAN_LOAD_PLUGINS", "")
    registry = load_registry()
    assert {"griffinlim", "istft"} <= set(registry.names("vocoder"))
    assert "third-gen" not in registry.names("generator")


def test_hook_wrappers_are_refused_and_tryfirst_is_harmless(site, tmp_path):
    ordered = tmp_path / "ordered_plugin.py"
    ordered.write_text(
        PLUGIN_SOURCE.format(name="ordered", module="ordered_plugin").replace(
            "@audiogan.hookimpl\ndef register_generators",
            "@audiogan.hookimpl(tryfirst=True)\ndef register_generators",
        )
    )
    assert "tryfirst=True" in ordered.read_text()
    assert "ordered" in load_registry([str(ordered)]).names("generator")
    wrapper = tmp_path / "wrapper_plugin.py"
    wrapper.write_text(
        "import audiogan\n\n@audiogan.hookimpl(wrapper=True)\ndef register_vocoders():\n"
        "    result = yield\n    return result\n"
    )
    with pytest.raises(PluginError, match=r"'.*wrapper_plugin.py': register_vocoders is a hook wrapper"):
        load_registry([str(wrapper)])
