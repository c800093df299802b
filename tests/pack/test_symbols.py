"""Symbol extraction: real tree-sitter parses of small sources in every wired-up language."""

from __future__ import annotations

import json

import pytest

from v4agent.pack.rank import symbols
from v4agent.pack.rank.symbols import LANGUAGES, FileSymbols, extract_symbols, language_for


@pytest.mark.parametrize(
    ("path", "lang"),
    [
        ("a/b.py", "python"), ("x.PY", "python"), ("app.jsx", "javascript"), ("m.mjs", "javascript"),
        ("t.ts", "typescript"), ("c.tsx", "tsx"), ("main.go", "go"), ("lib.rs", "rust"), ("A.java", "java"),
        ("x.c", "c"), ("x.h", "c"), ("x.hpp", "cpp"), ("x.cc", "cpp"), ("r.rb", "ruby"), ("Rakefile", "ruby"),
        ("p.cs", "csharp"), ("i.php", "php"), ("README.md", None), ("Makefile", None), (".py", None),
        ("noext", None), ("dir.py/file", None), ("win\\path\\mod.py", "python"),
    ],
)
def test_language_for(path: str, lang: str | None) -> None:
    assert language_for(path) == lang


def test_all_required_languages_are_wired() -> None:
    required = {"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp", "ruby", "csharp", "php"}
    assert required <= set(LANGUAGES)


SAMPLES: dict[str, tuple[str, set[str], set[str]]] = {
    "pkg/models.py": (
        "from django.db.models import Model, CharField\n"
        "from .base import helper_func as hf\n"
        "LIMIT = 10\n"
        "class Article(Model):\n"
        "    title = CharField(max_length=LIMIT)\n"
        "    @cached_property\n"
        "    def slug(self) -> SlugType:\n"
        "        try:\n            return slugify(self.title).lower_case()\n"
        "        except SlugError:\n            raise BadSlug\n"
        "def top_level():\n    return len(Article.objects.all())\n",
        {"Article", "LIMIT", "slug", "top_level"},
        {"Model", "CharField", "helper_func", "cached_property", "SlugType", "slugify", "lower_case",
         "SlugError", "BadSlug", "objects"},
    ),
    "web/app.js": (
        "import { render, Widget } from './ui';\n"
        "export function mountApp(root) { return render(new Widget(root)).attach(); }\n"
        "class Panel extends BaseView { draw() { helperDraw(); } }\n"
        "const makeStore = () => createStore();\n",
        {"mountApp", "Panel", "draw", "makeStore"},
        {"render", "Widget", "attach", "BaseView", "helperDraw", "createStore"},
    ),
    "src/svc.ts": (
        "import { Client } from './client';\n"
        "export interface Options { retries: number }\n"
        "export type Handler = (o: Options) => void;\n"
        "export enum Mode { Fast, Slow }\n"
        "export class Service extends BaseService implements Runner {\n"
        "  run(opts: Options): Result { return this.client.fetchAll(opts); }\n}\n",
        {"Options", "Handler", "Mode", "Service", "run"},
        {"Client", "BaseService", "Runner", "Result", "fetchAll"},
    ),
    "ui/View.tsx": (
        "export function AppView(props: Props) { return <Layout><Button onClick={handleClick} /></Layout>; }\n",
        {"AppView"},
        {"Props", "Layout", "Button"},
    ),
    "cmd/main.go": (
        "package main\nimport \"fmt\"\nconst MaxSize = 3\n"
        "type Server struct{ cfg Config }\n"
        "type Runner interface { Start() error }\n"
        "func (s *Server) Serve() { fmt.Println(buildRoutes(s.cfg)) }\n"
        "func NewServer() *Server { return &Server{} }\n",
        {"MaxSize", "Server", "Runner", "Serve", "NewServer", "Start"},
        {"Config", "Println", "buildRoutes"},
    ),
    "src/lib.rs": (
        "use crate::store::{Store, open_store};\n"
        "pub struct Engine { store: Store }\n"
        "pub trait Backend { fn load(&self); }\n"
        "impl Engine { pub fn start(&self) -> Outcome { let s = open_store(); s.flush_all(); println!(\"x\"); Outcome::Done } }\n"
        "const LIMIT: u32 = 4;\nmacro_rules! shout { () => {} }\n",
        {"Engine", "Backend", "load", "start", "LIMIT", "shout"},
        {"Store", "open_store", "flush_all", "Outcome", "println"},
    ),
    "src/Main.java": (
        "import com.acme.util.Helper;\n"
        "@Service\npublic class Main extends Base implements Runnable {\n"
        "  public Result compute(Input in) { return Helper.transform(in); }\n}\n"
        "interface Shape {}\nenum Color { RED }\n",
        {"Main", "compute", "Shape", "Color"},
        {"Helper", "Base", "Runnable", "Result", "Input", "transform", "Service"},
    ),
    "src/util.c": (
        "#include \"util.h\"\n#define BUF_SIZE 64\n"
        "typedef struct node { int v; } node_t;\n"
        "static int add_values(node_t *a, Pair b) { return compute_sum(a->v, b.w); }\n"
        "int declared_only(int x);\n",
        {"BUF_SIZE", "node", "node_t", "add_values", "declared_only"},
        {"Pair", "compute_sum"},
    ),
    "src/shape.cpp": (
        "namespace geo {\nclass Circle : public Shape { public: double area() const; };\n"
        "double Circle::perimeter() const { return util::twice(radius()); }\n}\n",
        {"geo", "Circle", "area", "perimeter"},
        {"Shape", "twice", "radius"},
    ),
    "lib/store.rb": (
        "module Shop\n  class Cart < BaseCart\n    def add_item(item)\n      items.push(Item.new(item))\n"
        "      recalculate_total\n    end\n    def self.build\n      new\n    end\n  end\nend\n",
        {"Shop", "Cart", "add_item", "build"},
        {"BaseCart", "Item"},
    ),
    "src/Repo.cs": (
        "using System;\nnamespace Data {\n  public class Repo : BaseRepo, IRepo {\n"
        "    public int Count { get; set; }\n    public Entity Find(Query q) { return Store.Lookup(q); }\n  }\n"
        "  public interface IThing {}\n}\n",
        {"Repo", "Count", "Find", "IThing"},
        {"BaseRepo", "IRepo", "Lookup"},
    ),
    "src/Controller.php": (
        "<?php\nnamespace App;\nuse App\\Models\\User;\n"
        "class Controller extends BaseController implements Handler {\n"
        "  public function show(Request $r) { return User::findOrFail(view_helper($r))->render(); }\n}\n"
        "function global_helper() {}\n",
        {"Controller", "show", "global_helper"},
        {"User", "BaseController", "Handler", "findOrFail", "view_helper", "render", "Request"},
    ),
}


@pytest.mark.parametrize("path", sorted(SAMPLES))
def test_extract_symbols_per_language(path: str) -> None:
    text, defines, references = SAMPLES[path]
    result = extract_symbols(path, text)
    assert defines <= set(result.defines), f"missing defines: {defines - set(result.defines)}"
    assert references <= set(result.references), f"missing references: {references - set(result.references)}"
    assert list(result.defines) == sorted(set(result.defines))
    assert list(result.references) == sorted(set(result.references))


def test_noise_and_locals_are_left_out() -> None:
    text = "def handler(request):\n    value = len(request.items)\n    for i in range(value):\n        print(self, i, Known)\n"
    result = extract_symbols("m.py", text)
    assert result.defines == ("handler",)
    assert "Known" in result.references
    # builtins, short names, locals and parameters say nothing about other files
    for noise in ("len", "range", "print", "self", "i", "value", "request"):
        assert noise not in result.references
    assert "__init__" not in extract_symbols("k.py", "class Foo:\n    def __init__(self): pass\n").defines


def test_unknown_language_and_empty_text() -> None:
    assert extract_symbols("notes.md", "def not_code(): pass") == FileSymbols()
    assert extract_symbols("empty.py", "") == FileSymbols()


def test_syntax_errors_give_best_effort() -> None:
    text = "def good_function():\n    return 1 +\n\nclass StillFound:\n    x = ]\n    def method_ok(self): pass\n"
    result = extract_symbols("bad.py", text)
    assert "good_function" in result.defines
    assert "StillFound" in result.defines
    assert "method_ok" in result.defines


def test_odd_text_never_raises() -> None:
    # a lone surrogate (from surrogateescape decoding) and NULs
    result = extract_symbols("odd.py", "def name_\udcff(): pass\n\x00\x00\ndef valid_name(): pass\n")
    assert "valid_name" in result.defines


def test_oversized_input_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "def some_function(): pass\n"
    assert extract_symbols("a.py", text).defines == ("some_function",)
    monkeypatch.setattr(symbols, "MAX_PARSE_BYTES", 10)
    assert extract_symbols("a.py", text) == FileSymbols()


def test_json_round_trip() -> None:
    original = extract_symbols("pkg/models.py", SAMPLES["pkg/models.py"][0])
    dumped = json.dumps(original.to_json())
    assert FileSymbols.from_json(json.loads(dumped)) == original
    assert FileSymbols.from_json(dumped) == original
    with pytest.raises(ValueError, match="string lists"):
        FileSymbols.from_json({"defines": "abc"})
    with pytest.raises(ValueError, match="object"):
        FileSymbols.from_json("[1, 2]")


def test_deterministic() -> None:
    text = SAMPLES["web/app.js"][0]
    assert extract_symbols("web/app.js", text) == extract_symbols("web/app.js", text)


def test_the_bulk_name_filter_keeps_what_the_one_name_rule_keeps() -> None:
    import itertools

    from v4agent.pack.rank.symbols import _meaningful, _meaningful_of

    pieces = ["_", "__", "a", "Ab", "x1", "1", "é", "!", "?", "=", "-", ".", "::", "$", " "]
    names = {"".join(p) for k in range(1, 5) for p in itertools.product(pieces, repeat=k)}
    assert len(names) > 10_000
    assert _meaningful_of(names) == {n for n in names if _meaningful(n)}
