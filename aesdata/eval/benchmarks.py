"""The benchmarks ``aesdata eval`` knows: where their tasks come from and how each task is asked.

A benchmark turns its published files into task rows: ``instruction`` is the exact user message the
benchmark sends the model, ``category`` the aesdata category that picks the system prompt (overridden with
the benchmark's own where it has one), and ``meta_json["eval"]`` the benchmark's own task id, category and
the fields its judge needs (ground-truth plot, checklist, UI test cases). Licences decide what ships:

- ``pandasplotbench`` (Apache-2.0): its prompts ship in ``data/pandasplotbench``; its 175 tasks live on
  the Hugging Face Hub (not on GitHub) and are downloaded on first use, or read from ``--data``.
- ``webgen_bench`` (no licence in its repository): the user's checkout of mnluzimu/WebGen-Bench
  (``data/test.jsonl``; the appearance prompt is read from ``src/grade_appearance_bolt_diy/prompt.py``).
- ``opendesign`` (no public licence found): the user's ``{id, prompt, category}`` file.
- ``artifactsbench`` (CC BY 4.0): its judge prompt ships in ``data/artifactsbench``; the tasks file
  (``dataset/artifacts_bench.json``) is read from ``--data``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError
from aesdata.generate.adapters import instruction_id, webgen_category
from aesdata.generate.prompts import normalize_category
from aesdata.records import SUFFIXES, read_records

PLOTBENCH_HUB_ID = "JetBrains-Research/PandasPlotBench"


def data_file(*parts: str) -> str:
    """Text of a file shipped in ``aesdata/eval/data``."""
    return resources.files("aesdata.eval").joinpath("data", *parts).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: ``load(path, limit)`` -> task rows (see module docstring); ``viewport`` is the render
    size its harness uses; ``system_prompts`` maps an aesdata category to the benchmark's system prompt."""

    name: str
    title: str
    kind: str
    source: str
    licence: str
    load: Callable[[Path | None, int | None], list[dict[str, Any]]]
    viewport: tuple[int, int] = (1280, 960)
    system_prompts: dict[str, str] = field(default_factory=dict)
    needs_data: bool = True


def _task_row(
    kind: str,
    category: str,
    instruction: str,
    bench: str,
    task_id: Any,
    bench_category: str,
    data_csv: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One instruction row; the id hashes the benchmark, task id and message (two tasks may share a text)."""
    meta = {"eval": {"benchmark": bench, "task_id": str(task_id), "category": bench_category, **extra}}
    rid = instruction_id(kind, f"{bench}:{task_id}|{instruction}")
    return {
        "id": rid,
        "instruction_id": rid,
        "kind": kind,
        "category": category,
        "instruction": instruction,
        "source": bench,
        "meta_json": json.dumps(meta, ensure_ascii=False),
        "data_csv": data_csv,
    }


def _records(path: Path, what: str) -> list[dict[str, Any]]:
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.suffix.lower() in SUFFIXES and "test" in f.name)
        files = files or sorted(f for f in path.rglob("*.parquet"))
        if not files:
            raise AesdataError(f"No {what} data file (Parquet / JSONL / JSON) was found under {path}.")
        return [r for f in files for r in read_records(f)]
    return list(read_records(path))


# -- PandasPlotBench -------------------------------------------------------------------------------------


def plotbench_instructs() -> dict[str, str]:
    """The benchmark's prompts (``plotting_benchmark/resources/instructs.json``, shipped unchanged)."""
    return json.loads(data_file("pandasplotbench", "instructs.json"))


def plotbench_head_description(csv_text: str) -> str:
    """The default data description (``data_descriptor: head``), as ``TaskChanger.head_df_description`` in
    ``plotting_benchmark/task_changer.py``: shape, column dtypes and ``df.head().to_json()``."""
    import pandas as pd

    df = pd.read_csv(io.StringIO(csv_text))
    text = f"DataFrame with {len(df.columns)} columns and {len(df)} rows\n"
    text += "Column names and types: " + ", ".join(f"{c}: {df[c].dtype}" for c in df.columns)
    return text + "\nHead:\n" + str(df.head().to_json())


def plotbench_request(record: dict[str, Any], library: str = "matplotlib") -> str:
    """The user message PandasPlotBench sends for one task with its default config (matplotlib, ``head``
    descriptor), as ``CodePlotGenerator.generate_plotting_request`` after ``TaskChanger.change_task``: the
    plot instruction, then the numbered task parts in the order the task row holds them (plot description,
    plot style, then the appended setup and data description), blank lines collapsed."""
    ins = plotbench_instructs()
    setup = ins["setup_instruct"].replace("[PLOTLIB]", library)
    if "matplotlib" not in library and "seaborn" not in library:
        setup += f"DO NOT use matplotlib for plotting. Only {library} library. "
    if "matplotlib" in library:
        setup += "DO NOT use seaborn for plotting. Only pure matplotlib. "
    data = (ins["data_instruct"] + "\n" + plotbench_head_description(record.get("data_csv") or ""))[:4000]
    parts = [
        str(record.get("task__plot_description") or ""),
        str(record.get("task__plot_style") or ""),
        setup,
        data,
    ]
    task = ins["plot_instruct"] + "\n"
    i = 1
    for part in parts:
        part = part.lstrip()
        if part:
            task += f"{i}. {part}\n"
            i += 1
    return task.replace("\n\n", "\n")


def _plotbench_gt(value: Any) -> list[str]:
    """``plots_gt`` as a list of base64 PNG strings (Parquet gives a list; some exports a repr string)."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value.replace("'", '"'))
        except ValueError:
            return [value]
    return [str(v) for v in value]


def plotbench_hub_folder() -> Path:
    """Download the benchmark's files from the Hugging Face Hub (cached by ``huggingface_hub``)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(PLOTBENCH_HUB_ID, repo_type="dataset"))
    except Exception as e:  # noqa: BLE001 - any download failure is one user-facing message
        raise AesdataError(
            f"Could not download {PLOTBENCH_HUB_ID} from the Hugging Face Hub ({type(e).__name__}: {e}).",
            "Download the dataset on a machine with access (its folder, or a Parquet / JSONL file of its "
            "fields) and pass it with --data.",
        ) from None


def load_plotbench(path: Path | None, limit: int | None) -> list[dict[str, Any]]:
    """PandasPlotBench tasks (fields ``id, code_plot, code_data, data_csv, task__plot_description,
    task__plot_style, plots_gt``) as task rows, in id order; the first ``limit`` when given."""
    records = _records(path or plotbench_hub_folder(), "PandasPlotBench")
    missing = {"id", "code_data", "data_csv", "task__plot_description"} - set(records[0] if records else {})
    if not records or missing:
        raise AesdataError(
            f"{path} is not in the PandasPlotBench layout (missing fields: {sorted(missing) or 'all'}).",
            "Give the Hub folder of JetBrains-Research/PandasPlotBench or a file with its fields.",
        )
    records.sort(key=lambda r: int(r["id"]) if str(r["id"]).isdigit() else str(r["id"]))
    rows = []
    for r in records[:limit] if limit else records:
        rows.append(
            _task_row(
                "plot",
                "matplotlib",
                plotbench_request(r),
                "pandasplotbench",
                r["id"],
                "matplotlib",
                code_data=str(r.get("code_data") or ""),
                plots_gt=_plotbench_gt(r.get("plots_gt")),
                task_text=[str(r.get("task__plot_description") or ""), str(r.get("task__plot_style") or "")],
                data_csv=str(r.get("data_csv") or ""),
            )
        )
    return rows


# -- WebGen-Bench ----------------------------------------------------------------------------------------


def _webgen_file(path: Path) -> Path:
    return path / "data" / "test.jsonl" if path.is_dir() else path


def webgen_prompt(path: Path | None) -> str | None:
    """The appearance prompt of the user's WebGen-Bench checkout (``appearance_prompt`` in
    ``src/grade_appearance_bolt_diy/prompt.py``), or None when ``path`` is not a checkout."""
    if path is None or not path.is_dir():
        return None
    f = path / "src" / "grade_appearance_bolt_diy" / "prompt.py"
    if not f.exists():
        return None
    ns: dict[str, Any] = {}
    try:
        exec(compile(f.read_text(encoding="utf-8"), str(f), "exec"), ns)  # noqa: S102 - the user's checkout
    except Exception:  # noqa: BLE001
        return None
    prompt = ns.get("appearance_prompt")
    return prompt if isinstance(prompt, str) and "{instruction}" in prompt else None


def load_webgen(path: Path | None, limit: int | None) -> list[dict[str, Any]]:
    """WebGen-Bench tasks (``{id, instruction, Category, application_type, ui_instruct}``) as task rows:
    the reporting category is ``application_type``; the aesdata category (system prompt) is mapped from it."""
    if path is None:
        raise AesdataError(
            "WebGen-Bench is not shipped (its repository carries no licence).",
            "Clone mnluzimu/WebGen-Bench and pass the folder (or its data/test.jsonl) with --data.",
        )
    rows = []
    records = list(read_records(_webgen_file(path)))
    for r in records[:limit] if limit else records:
        if "instruction" not in r:
            raise AesdataError(f"{path} is not in the WebGen-Bench layout (a record has no `instruction`).")
        app = str(r.get("application_type") or "unknown")
        primary = (
            (r.get("Category") or {}).get("primary_category") if isinstance(r.get("Category"), dict) else None
        )
        cases = [
            {
                "task": c.get("task"),
                "expected_result": c.get("expected_result"),
                "category": (c.get("task_category") or {}).get("primary_category"),
            }
            for c in r.get("ui_instruct") or []
        ]
        rows.append(
            _task_row(
                "html",
                webgen_category(app),
                str(r["instruction"]).strip(),
                "webgen_bench",
                r.get("id"),
                app,
                primary_category=primary,
                ui_cases=cases,
            )
        )
    return rows


# -- OpenDesign ------------------------------------------------------------------------------------------


def load_opendesign(path: Path | None, limit: int | None) -> list[dict[str, Any]]:
    """OpenDesign prompts (``{id, prompt, category}``) as task rows (category normalised for the prompt,
    the benchmark's own kept for the report)."""
    if path is None:
        raise AesdataError(
            "OpenDesign is not shipped (no public licence was found for its prompts).",
            "Pass your copy of the 840 prompts ({id, prompt, category} as JSONL / JSON / Parquet) with --data.",
        )
    records = _records(path, "OpenDesign") if path.is_dir() else list(read_records(path))
    rows = []
    for r in records[:limit] if limit else records:
        if "prompt" not in r:
            raise AesdataError(f"{path} is not in the OpenDesign layout (a record has no `prompt`).")
        cat = str(r.get("category") or "Website")
        rows.append(
            _task_row(
                "html", normalize_category(cat), str(r["prompt"]).strip(), "opendesign", r.get("id"), cat
            )
        )
    return rows


# -- ArtifactsBench --------------------------------------------------------------------------------------

_ARTIFACTS_CATEGORY_KEYS = ("class", "category", "Category", "type", "task_type")


def load_artifacts(path: Path | None, limit: int | None) -> list[dict[str, Any]]:
    """ArtifactsBench tasks (``dataset/artifacts_bench.json``: ``index``, ``question``, ``checklist`` and a
    class field) as task rows. The model answers the ``question`` as is (no system prompt)."""
    if path is None:
        raise AesdataError(
            "ArtifactsBench's tasks file is not shipped with aesdata.",
            "Pass your copy of dataset/artifacts_bench.json (Tencent-Hunyuan/ArtifactsBenchmark) with --data.",
        )
    f = path / "dataset" / "artifacts_bench.json" if path.is_dir() else path
    records = list(read_records(f))
    rows = []
    for r in records[:limit] if limit else records:
        question = r.get("question") or r.get("original_question") or r.get("prompt")
        if not question:
            raise AesdataError(f"{f} is not in the ArtifactsBench layout (a record has no `question`).")
        cat = next((str(r[k]) for k in _ARTIFACTS_CATEGORY_KEYS if r.get(k)), "all")
        rows.append(
            _task_row(
                "html",
                "artifacts",
                str(question),
                "artifactsbench",
                r.get("index"),
                cat,
                checklist=r.get("checklist"),
                difficulty=r.get("difficulty"),
            )
        )
    return rows


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "pandasplotbench",
            "PandasPlotBench",
            "plot",
            "JetBrains-Research/PandasPlotBench (arXiv 2412.02764)",
            "Apache-2.0: prompts shipped, tasks downloaded from the Hub",
            load_plotbench,
            system_prompts={"matplotlib": plotbench_instructs()["system_prompt"]},
            needs_data=False,
        ),
        Benchmark(
            "opendesign",
            "OpenDesign",
            "html",
            "AesCoder's OpenDesign (arXiv 2510.23272)",
            "no public licence found: reads your copy",
            load_opendesign,
        ),
        Benchmark(
            "webgen_bench",
            "WebGen-Bench",
            "html",
            "mnluzimu/WebGen-Bench (arXiv 2505.03733)",
            "no licence in the repository: reads your checkout",
            load_webgen,
            viewport=(1024, 768),
        ),
        Benchmark(
            "artifactsbench",
            "ArtifactsBench",
            "html",
            "Tencent-Hunyuan/ArtifactsBenchmark (arXiv 2507.04952)",
            "CC BY 4.0: judge prompt shipped, tasks file read from --data",
            load_artifacts,
            viewport=(1280, 720),
            system_prompts={"artifacts": "You are a helpful assistant."},
        ),
    )
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (``-`` and ``_`` are the same); ``AesdataError`` for an unknown one."""
    key = name.lower().replace("-", "_")
    if key not in BENCHMARKS:
        raise AesdataError(f"Unknown benchmark {name!r}.", f"Use one of: {', '.join(BENCHMARKS)}.")
    return BENCHMARKS[key]
