"""The sample row: one provenance row per candidate, as a single versioned pyarrow schema.

Every column a stage may write is declared here, grouped as in the design brief. Stages write
only the columns they declare in ``Stage.outputs``; the executor casts a stage's output to these
types, so every shard of a run has the same layout and DuckDB / Polars / ``datasets`` read it as is.

Rich, nested values (layout boxes, findings, traces, sub-scores) are stored as JSON text in
``*_json`` columns: their shape can grow without a schema migration, and DuckDB's ``->>`` and
``json_extract`` query them directly.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1.0"

#: HF ``datasets.Image``-compatible storage: ``{"bytes": <png>, "path": <name or null>}``.
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

#: One requested asset of an HTML render (``render_assets`` items):
#: ``url`` as the page wrote it (cut at 500 chars); ``kind`` script | stylesheet | font | image | other;
#: ``answered_by`` exact (the version and file asked for) | same-major (another version of the same
#: major) | other-major (another major: only when the pipeline opts in) | placeholder (a neutral image
#: of the requested size) | blocked (not answered; ``note`` says why) | sri-rejected (answered, but the
#: page's ``integrity`` did not match the bytes, so Chromium refused them); ``package`` / ``version``
#: the npm package and version served (null when none); ``requested`` the version or range the URL
#: named ("" when none); ``file`` the path served inside the package; ``sri`` ok (the page's integrity
#: matched) | stripped (did not match; the attribute was removed and the file served) | rejected (did
#: not match; left for Chromium to refuse) | none (no integrity attribute); ``note`` a short reason.
RENDER_ASSET = pa.struct(
    [
        ("url", pa.string()),
        ("kind", pa.string()),
        ("answered_by", pa.string()),
        ("package", pa.string()),
        ("version", pa.string()),
        ("requested", pa.string()),
        ("file", pa.string()),
        ("sri", pa.string()),
        ("note", pa.string()),
    ]
)

_GROUPS: dict[str, list[tuple[str, pa.DataType, str]]] = {
    "identity": [
        ("id", pa.string(), "stable content-derived id: sha256 of kind, instruction and code (16 hex)"),
        ("instruction_id", pa.string(), "id of the instruction this candidate answers"),
        ("kind", pa.string(), "html | plot"),
        (
            "category",
            pa.string(),
            "OpenDesign category (website, 3d_design, data_visualization, game_dev, ui_component) or plot library",
        ),
        ("instruction", pa.string(), "the user request the code answers"),
        ("source", pa.string(), "where the row came from (corpus file, generator, dataset)"),
        ("meta_json", pa.string(), "extra corpus fields, as JSON"),
        ("data_csv", pa.string(), "CSV text a plot script reads as data.csv (PandasPlotBench style)"),
    ],
    "generation": [
        ("gen_backend", pa.string(), "generator backend: corpus | openai | vllm | transformers"),
        ("gen_model", pa.string(), "generator model name"),
        ("gen_params_json", pa.string(), "sampling parameters, as JSON"),
        ("gen_candidate_index", pa.int32(), "index of this candidate among the N for its instruction"),
        ("gen_status", pa.string(), "ok | truncated | no_code | error"),
        ("gen_error", pa.string(), "generation error text"),
        ("gen_prompt_tokens", pa.int64(), "prompt tokens billed"),
        ("gen_completion_tokens", pa.int64(), "completion tokens billed"),
        ("response", pa.string(), "raw model reply"),
        ("code", pa.string(), "extracted code: one self-contained HTML file or one Python script"),
    ],
    "render": [
        (
            "render_status",
            pa.string(),
            "ok | timeout | js_error | crash | blank | exec_error | no_figure | killed | skipped",
        ),
        ("render_error", pa.string(), "error text for a failed render"),
        ("console_errors_json", pa.string(), "console errors and uncaught page errors, as a JSON list"),
        (
            "blocked_requests_json",
            pa.string(),
            "requests that were blocked (left the machine), as a JSON list",
        ),
        ("screenshot", IMAGE, "full-page PNG (height capped); null when the render failed"),
        ("screenshot_viewport", IMAGE, "first-viewport PNG"),
        ("screenshot_width", pa.int32(), "full-page screenshot width in px"),
        ("screenshot_height", pa.int32(), "full-page screenshot height in px"),
        ("render_ms", pa.float64(), "total render time in ms"),
        ("render_timings_json", pa.string(), "per-phase timings (load, settle, screenshot), as JSON"),
        ("layout_json", pa.string(), "visible elements: tag, box, text, colours, font sizes, as JSON"),
        ("dom_nodes", pa.int32(), "number of DOM elements"),
        ("plot_stdout", pa.string(), "plot script stdout (truncated)"),
        ("plot_stderr", pa.string(), "plot script stderr (truncated)"),
        ("plot_figures", pa.int32(), "number of figures the script produced"),
        ("render_meta_json", pa.string(), "renderer details (viewport, isolation, browser version), as JSON"),
        (
            "render_assets",
            pa.list_(RENDER_ASSET),
            "every file the page asked for outside itself (CDN libraries, stylesheets, fonts, images) and "
            "what answered it; see RENDER_ASSET",
        ),
        (
            "render_fidelity",
            pa.string(),
            "faithful (every script, stylesheet and font answered with the exact version asked for; remote "
            "images may be placeholders) | degraded (a substitute version, or a font or image blocked) | "
            "broken (a script or stylesheet blocked or rejected by SRI); null when no page was rendered",
        ),
    ],
    "judges": [
        ("exec_pass", pa.bool_(), "execution judge verdict"),
        ("exec_score", pa.float64(), "execution score: +1 pass / -1 fail"),
        ("exec_findings_json", pa.string(), "execution findings (lint rules, page errors), as JSON"),
        ("static_score", pa.float64(), "static aesthetics 0..100"),
        ("static_subscores_json", pa.string(), "sub-scores (alignment, aesthetics, structure...), as JSON"),
        ("static_findings_json", pa.string(), "human-readable findings, as JSON"),
        ("static_rationale", pa.string(), "judge rationale text"),
        ("static_judge", pa.string(), "static judge id (design@version or vlm:<model>)"),
        ("rubric_version", pa.string(), "rubric name and version"),
        ("vlm_score", pa.float64(), "VLM judge total, rubric scale"),
        ("vlm_subscores_json", pa.string(), "VLM sub-scores, as JSON"),
        ("vlm_rationale", pa.string(), "VLM feedback text"),
        ("vlm_judge", pa.string(), "VLM judge id"),
        ("interactive_score", pa.float64(), "interactive score 0..max_scored"),
        ("interactive_max", pa.int32(), "interactions scored at most"),
        ("interactive_trace_json", pa.string(), "interaction trace (action, target, outcome), as JSON"),
        ("reward", pa.float64(), "combined GRPO-AR reward"),
        ("reward_json", pa.string(), "reward components and normalisation, as JSON"),
    ],
    "dedup": [
        ("code_hash", pa.string(), "exact hash of normalised code"),
        ("image_hash", pa.string(), "exact hash of the screenshot bytes"),
        ("phash", pa.string(), "perceptual hash of the screenshot, 64-bit hex"),
        ("minhash_json", pa.string(), "MinHash signature summary, as JSON (optional)"),
        ("cluster_id", pa.string(), "near-duplicate cluster id (the smallest member id)"),
        ("cluster_size", pa.int32(), "members in the cluster"),
        (
            "dup_signals",
            pa.string(),
            "which signals linked it: exact_code, exact_image, code_minhash, visual, reference",
        ),
        ("is_representative", pa.bool_(), "kept as the cluster's representative by selection"),
    ],
    "eval": [
        ("eval_benchmark", pa.string(), "benchmark this row answers (aesdata eval)"),
        ("eval_task_id", pa.string(), "the benchmark's own task id"),
        ("eval_category", pa.string(), "the benchmark's own category of the task"),
        (
            "eval_scores_json",
            pa.string(),
            "the benchmark's official per-task scores, judge replies, judge and prompt ids, as JSON",
        ),
    ],
    "selection": [
        ("selected", pa.bool_(), "kept in the exported dataset"),
        ("drop_reason", pa.string(), "the first rule that dropped it (null when selected)"),
        ("split", pa.string(), "train | test | ... for selected rows"),
    ],
    # written by the render step on the live page (one visit), read by the judge step without a browser
    "captures": [
        ("lint_json", pa.string(), "HTMLHint run on the source in the live page: {rules, messages}, as JSON"),
        ("probe_json", pa.string(), "in-page probe (images, broken images, document size), as JSON"),
        ("axe_json", pa.string(), "axe-core color-contrast violations on the live page, as JSON"),
        (
            "explore_json",
            pa.string(),
            "built-in interactive agent: {score, max_scored, candidates, trace}, as JSON",
        ),
        ("interactive_candidates", pa.int32(), "actionable elements the interactive agent found"),
        ("capture_errors_json", pa.string(), "live checks that failed during the render visit, as JSON"),
    ],
}

COLUMN_GROUPS: dict[str, list[str]] = {
    group: [name for name, _, _ in cols] for group, cols in _GROUPS.items()
}
DESCRIPTIONS: dict[str, str] = {name: doc for cols in _GROUPS.values() for name, _, doc in cols}
SAMPLE_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field(name, typ, metadata={"description": doc})
        for cols in _GROUPS.values()
        for name, typ, doc in cols
    ],
    metadata={"aesdata.schema_version": SCHEMA_VERSION},
)


def field_type(name: str) -> pa.DataType:
    """Return the declared type of column ``name``; raise ``KeyError`` for an undeclared column."""
    return SAMPLE_SCHEMA.field(name).type


def sub_schema(names: list[str] | tuple[str, ...]) -> pa.Schema:
    """Return the schema of ``names`` (in that order), all declared in ``SAMPLE_SCHEMA``."""
    return pa.schema([SAMPLE_SCHEMA.field(n) for n in names])
