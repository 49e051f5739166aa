"""The conclusion's machinery: it reads the results the earlier chapters wrote and states their answers.

``notebooks/conclusion.ipynb`` measures nothing: each function here takes the chapters' results files as
loaded by :func:`load` (chapter name -> the file's content) and shows a table or glues the values its prose
reads. A sentence whose wording depends on a result (a target missed, nothing within the tolerance) is
built by one function here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lab3.book import report, results
from lab3.experiments import course
from lab3.measure import stats

Row = dict[str, Any]
Docs = Mapping[str, Mapping[str, Any]]  # chapter -> its results file: {"parameters": ..., "values": ...}
CHAPTERS = ("baseline", "quantization", "pruning", "quantizers", "repair", "deployment")
COURSE_CRITERIA = {"full": "accuracy vs 98.59%",
                   "must_match_max": "worst of the course's ≥95% points",
                   "quant_median": "median, 21 quantization points",
                   "pruning_median": "median, 10 pruning ratios"}


def load(chapters: Sequence[str] = CHAPTERS) -> dict[str, dict[str, Any]]:
    """The results files the chapters wrote, book/<chapter>.results.json, by chapter name."""
    return {c: results.load(results.book_path(c)) for c in chapters}


def value(chapter: Mapping[str, Any], name: str) -> Any:
    """A result's value; a choice's chosen option."""
    v = chapter[name]["value"]
    return v["choice"] if chapter[name]["kind"] == "choice" else v


def acc(chapter: Mapping[str, Any], name: str) -> dict[str, Any]:
    """An accuracy result as a record with its 95% interval."""
    entry = chapter[name]
    return stats.accuracy_record(round(entry["value"] * entry["n"]), entry["n"])


def _values(docs: Docs, chapter: str) -> Mapping[str, Any]:
    """One chapter's results by name."""
    return docs[chapter]["values"]


# --- how close this model is to the course's -----------------------------------------------------------------

def course_distance(docs: Docs) -> course.Distance:
    """The distance of this model's lab tables from the course's, from the quantization and pruning results."""
    Q, P = _values(docs, "quantization"), _values(docs, "pruning")
    quant_now = {}
    for k, v in Q.items():
        if k.startswith("course/q=") and k.endswith("/this_run"):
            q_text, bits_text = k.split("/")[1:3]
            quant_now[(float(q_text.removeprefix("q=")), int(bits_text.removesuffix("bit")))] = 100 * v["value"]
    prune_now = {float(k.split("/")[1]): 100 * v["value"] for k, v in P.items()
                 if k.startswith("course/") and k.endswith("/this_run")}
    whole = _values(docs, "baseline")["test_accuracy"]["value"] * 100
    return course.distance(whole, quant_now, prune_now)


def course_verdicts(dist: course.Distance, measured: Sequence[Mapping[str, Any]] = ()) -> dict[str, str]:
    """Each criterion met, missed, or met under some numerics only: this model's value and the ``measured`` ones."""
    out = {}
    for name, target in course.TARGETS.items():
        met = {v <= target for v in [getattr(dist, name), *(float(m[name]) for m in measured)]}
        out[name] = "met" if met == {True} else "missed" if met == {False} else "varies by CPU"
    return out


def value_range(dist: course.Distance, measured: Sequence[Mapping[str, Any]], name: str) -> str:
    """A criterion's lowest to highest value over this model and the measured runs, e.g. '2.47–6.58'."""
    values = [getattr(dist, name), *(float(m[name]) for m in measured)]
    return f"{min(values):.2f}–{max(values):.2f}"


def course_sentence(verdicts: Mapping[str, str], ranges: Mapping[str, str] | None = None,
                    runs: int = 1) -> str:
    """Which of the course's targets this model met and missed; a verdict that flips between numerics says so."""
    met = [COURSE_CRITERIA[k] for k, v in verdicts.items() if v == "met"]
    missed = [COURSE_CRITERIA[k] for k, v in verdicts.items() if v == "missed"]
    flips = [f"{COURSE_CRITERIA[k]} ({(ranges or {}).get(k, '?')} pp over {runs} builds)"
             for k, v in verdicts.items() if v == "varies by CPU"]
    if not missed and not flips:
        return "All four targets are met."
    text = f"Met: {', '.join(met) if met else 'none'}."
    if missed:
        text += f" Missed: {'; '.join(missed)}."
    if flips:
        text += f" Met on some CPUs, missed on others, so stated as neither: {'; '.join(flips)}."
    return text


def measured_spread(docs: Docs) -> list[dict[str, Any]]:
    """The course criteria measured for the default recipe under other numerics; none for a checkpoint given."""
    baseline = docs["baseline"]
    if (baseline.get("parameters") or {}).get("model_path") is not None:
        return []  # a checkpoint of its own (MODEL=): what the default recipe gave elsewhere says nothing of it
    sha = baseline.get("model_sha256", "")
    return [m for m in results.course_spread() if not (sha and sha.startswith(str(m.get("model", "-"))))]


def show_course_distance(docs: Docs) -> None:
    """The four criteria against their targets, with their range under other numerics, and the verdict sentence."""
    dist = course_distance(docs)
    measured = measured_spread(docs)
    verdicts = course_verdicts(dist, measured)
    rows = [{"what": COURSE_CRITERIA[k], "value": getattr(dist, k), "target": t, "ratio": getattr(dist, k) / t,
             "range": value_range(dist, measured, k).replace("–", "\u00a0to\u00a0"),  # unbroken in a narrow column
             "verdict": verdicts[k]} for k, t in course.TARGETS.items()]
    columns = [("what", "criterion (pp)", ""), ("value", "this model", ".2f"), ("target", "target", "g"),
               ("ratio", "ratio", ".2f")]
    caption = "Distance of this model's lab tables from the course's (pp, whole test set)."
    if measured:
        columns.append(("range", f"{len(measured) + 1} builds", ""))
        caption = (f"Distance from the course's lab tables (pp, whole test set), and its range over "
                   f"{len(measured) + 1} builds.")
    columns.append(("verdict", "verdict", ""))
    report.show_table(rows, columns, caption=caption, name="tbl-c-course")
    ranges = {k: value_range(dist, measured, k) for k in course.TARGETS}
    report.glue("c-course", course_sentence(verdicts, ranges, len(measured) + 1))


# --- quantization ----------------------------------------------------------------------------------------

def fewest_bits(docs: Docs) -> tuple[int | None, str | None, dict[str, Any] | None]:
    """The fewest bits the quantization chapter's rule kept, with its best q and that model's accuracy record."""
    Q = _values(docs, "quantization")
    fewest = value(Q, "grid/fewest_bits_within_tolerance")
    if fewest is None:
        return None, None, None
    label = value(Q, f"grid/best_q/{fewest}bit")
    return fewest, label, acc(Q, f"grid/q={label}/{fewest}bit/accuracy")


def first_budget(docs: Docs) -> str | None:
    """The smallest bit budget the mixed-precision search ran (as its results name it), or None."""
    QZ = _values(docs, "quantizers")
    budgets = sorted(float(k.split("/")[1]) for k in QZ if k.startswith("mixed/") and k.endswith("/allocation"))
    return f"{budgets[0]:g}" if budgets else None


def quant_rows(docs: Docs) -> list[Row]:
    """One row per bit width: the lab's best q and its accuracy, and the best quantizer beyond the lab."""
    Q, QZ = _values(docs, "quantization"), _values(docs, "quantizers")
    bits = sorted(int(k.split("/")[2].removesuffix("bit")) for k in Q if k.startswith("grid/best_q/"))
    rows = []
    for b in bits:
        label = value(Q, f"grid/best_q/{b}bit")
        lab_r = acc(Q, f"grid/q={label}/{b}bit/accuracy")
        best_m = value(QZ, f"methods/best/{b}bit") if f"methods/best/{b}bit" in QZ else None
        best = (f"{best_m}: {report.pct(acc(QZ, f'methods/{best_m}/{b}bit/accuracy')['accuracy'])}" if best_m
                else "–")
        rows.append({"bits": b, "q": label, "lab": report.acc_ci(lab_r), "best": best})
    return rows


def fewest_text(fewest: int | None, label: str | None, fewest_acc: dict[str, Any] | None, full: dict[str, Any],
                tolerance_pp: float) -> str:
    """The fewest bits the lab's quantizer needs, or that no width of the grid stays within the tolerance."""
    if fewest is None or fewest_acc is None:
        return f"none of the grid's widths: no point stays within {tolerance_pp:g} pp of full precision"
    return (f"**{fewest} bits** at q = {label}: the fewest that stay within {tolerance_pp:g} pp of full "
            f"precision on the selection half; on the reporting half that model reaches "
            f"{report.acc_ci(fewest_acc)} against {report.acc_ci(full)} in full precision")


def quant_glue(docs: Docs) -> dict[str, str]:
    """The quantization paragraph's values: the lab's best q at 4 bits, the fewest bits, GPTQ, a width per layer."""
    Q, QZ = _values(docs, "quantization"), _values(docs, "quantizers")
    lab4 = {float(k.split("/")[1][2:]): v["value"] for k, v in Q.items()
            if k.startswith("course/q=") and k.endswith("/4bit/this_run")}  # the lab's grid, whole test set
    best_lab4 = max(lab4, key=lambda q: lab4[q]) if lab4 else None
    tol = docs["quantization"]["parameters"]["tolerance_pp"]
    out = {"c-lab4": f"{best_lab4:g}" if best_lab4 is not None else "–",
           "c-fewest": fewest_text(*fewest_bits(docs), acc(Q, "full_precision/accuracy"), tol),
           "c-gptq4": f"{report.pct(acc(QZ, 'packed/4bit/accuracy')['accuracy'])} in a file of "
                      f"{report.human_bytes(QZ['packed/4bit/bytes']['value'])}" if "packed/4bit/bytes" in QZ else "–"}
    b0 = first_budget(docs)
    out["c-mixed"] = (f"fc1..fc4 at {value(QZ, f'mixed/{b0}/allocation')} bits store the whole model in "
                      f"{QZ[f'mixed/{b0}/bits_per_weight']['value']:.2f} bits per weight, everything counted, "
                      f"at {report.acc_ci(acc(QZ, f'mixed/{b0}/accuracy'))}" if b0 else "no budget was run")
    return out


def show_quantization(docs: Docs) -> None:
    """The quantization answers as a table, and the values of the paragraph that reads them."""
    report.show_table(quant_rows(docs), [("bits", "bits", ""), ("q", "best q (lab's quantizer)", ""),
                                         ("lab", "accuracy [95% CI]", ""),
                                         ("best", "best quantizer beyond the lab", "")],
                      caption="The lab's quantization questions: the best q at each bit width and what it costs.",
                      name="tbl-c-quant")
    for name, text in quant_glue(docs).items():
        report.glue(name, text)


# --- pruning ---------------------------------------------------------------------------------------------

def improved_pick(docs: Docs) -> tuple[str, str, dict[str, Any], int] | None:
    """The repair chapter's pick without retraining: (ratio text, method, accuracy record, parameters), or None."""
    PR = _values(docs, "repair")
    improved = value(PR, "improved/recommended/fields")  # the choice's ratio and method, or None
    if not improved:
        return None
    i_ratio, i_method = f"{improved['ratio']:g}", improved["method"]
    return (i_ratio, i_method, acc(PR, f"methods/{i_method}/{i_ratio}/accuracy"),
            PR[f"methods/{i_method}/{i_ratio}/parameters"]["value"])


def pruning_glue(docs: Docs) -> dict[str, str]:
    """The pruning paragraph's values: the lab's pick and the repaired pick, or what stands when there is none."""
    P = _values(docs, "pruning")
    ratio = value(P, "lab/recommended_ratio")
    out = {"c-lab-prune": "none: no lab-pruned model stays within the tolerance",
           "c-repair": "no higher ratio"}
    if ratio is not None:
        out["c-lab-prune"] = (f"ratio **{ratio:g}**: {P[f'lab/{ratio:g}/parameters']['value']:,} parameters "
                              f"({report.human_bytes(P[f'lab/{ratio:g}/float32_bytes']['value'])} as float32) at "
                              f"{report.acc_ci(acc(P, f'lab/{ratio:g}/accuracy'))}, against "
                              f"{report.acc_ci(acc(P, 'full/accuracy'))} for the full model")
    improved = improved_pick(docs)
    if improved:
        i_ratio, _, i_acc, i_parameters = improved
        out["c-repair"] = f"ratio **{i_ratio}** ({i_parameters:,} parameters) at {report.acc_ci(i_acc)}"
    return out


def glue_pruning(docs: Docs) -> None:
    """Glue the pruning paragraph's values."""
    for name, text in pruning_glue(docs).items():
        report.glue(name, text)


# --- the answers side by side ------------------------------------------------------------------------------

def frontier_choice(docs: Docs) -> str | None:
    """The deployment chapter's smallest recipe that reaches Deep Compression's accuracy, or None."""
    D = _values(docs, "deployment")
    return value(D, "frontier/chosen") if "frontier/chosen" in D else None


def summary_rows(docs: Docs) -> list[Row]:
    """Every answer of the report that exists in this build: its model, file size and accuracy record."""
    Q, P, D = _values(docs, "quantization"), _values(docs, "pruning"), _values(docs, "deployment")
    QZ = _values(docs, "quantizers")
    full_bytes = 4 * _values(docs, "baseline")["parameters"]["value"]
    summary: list[Row] = [{"model": "full model, float32", "bytes": full_bytes,
                           "acc": acc(Q, "full_precision/accuracy")}]
    fewest, _, f_acc = fewest_bits(docs)
    if fewest is not None:
        summary.append({"model": f"lab quantizer, {fewest} bits (simulated; weights × bits / 8)",
                        "bytes": Q["weights/all/count"]["value"] * fewest // 8, "acc": f_acc})
    if "packed/4bit/bytes" in QZ:
        summary.append({"model": "GPTQ 4-bit, packed file", "bytes": QZ["packed/4bit/bytes"]["value"],
                        "acc": acc(QZ, "packed/4bit/accuracy")})
    b0 = first_budget(docs)
    if b0:
        summary.append({"model": f"GPTQ, a width per layer ({value(QZ, f'mixed/{b0}/allocation')} bits), packed file",
                        "bytes": QZ[f"mixed/{b0}/bytes"]["value"], "acc": acc(QZ, f"mixed/{b0}/accuracy")})
    ratio = value(P, "lab/recommended_ratio")
    if ratio is not None:
        summary.append({"model": f"lab pruning, ratio {ratio:g}, float32",
                        "bytes": P[f"lab/{ratio:g}/float32_bytes"]["value"], "acc": acc(P, f"lab/{ratio:g}/accuracy")})
    improved = improved_pick(docs)
    if improved:
        i_ratio, i_method, i_acc, i_parameters = improved
        summary.append({"model": f"{i_method}, ratio {i_ratio}, float32", "bytes": 4 * i_parameters, "acc": i_acc})
    rec = value(D, "recommended/by_size")
    if rec:
        summary.append({"model": f"deployed: {rec} (packed, lzma)", "bytes": D["recommended/packed_bytes"]["value"],
                        "acc": acc(D, "recommended/accuracy")})
    beyond = frontier_choice(docs)
    if beyond:
        summary.append({"model": f"pixels dropped, quantization-aware: {beyond}",
                        "bytes": D[f"frontier/{beyond}/bytes"]["value"], "acc": acc(D, f"frontier/{beyond}/accuracy")})
    return summary


def show_summary(docs: Docs) -> list[Row]:
    """The answers side by side (size, how many times smaller than float32, accuracy); returns their rows."""
    summary = summary_rows(docs)
    report.show_table([{**s, "a": report.acc_ci(s["acc"]), "x": summary[0]["bytes"] / s["bytes"]} for s in summary],
                      [("model", "model", ""), ("bytes", "size", report.human_bytes),
                       ("x", "× smaller", lambda v: f"{v:,.0f}"), ("a", "accuracy [95% CI]", "")],
                      caption="The report's answers side by side: size and accuracy on the reporting half.",
                      name="tbl-c-summary")
    return summary


# --- the model to deploy -----------------------------------------------------------------------------------

def price_text(distill_epochs: int, improved: tuple[str, str, dict[str, Any], int] | None) -> str:
    """What the deployed model costs to make: a distillation (and where the rule stops without one), or nothing."""
    if not distill_epochs:
        return "It needs no retraining."
    if not improved:
        return "The price is a short distillation from the full model, which is retraining."
    i_ratio, i_method, i_acc, i_parameters = improved
    return (f"The price is a short distillation from the full model, which is retraining; without any retraining "
            f"the same rule stops at ratio {i_ratio} ({i_method}, {i_parameters:,} parameters, "
            f"{report.acc_ci(i_acc)}).")


def frontier_text(beyond: str | None, size_bytes: int | None, accuracy: dict[str, Any] | None) -> str:
    """The smallest recipe that reaches Deep Compression's accuracy, or that none does."""
    if not beyond or size_bytes is None or accuracy is None:
        return "None of the deployment chapter's smallest recipes reaches Deep Compression's accuracy on this model."
    return (f"When every byte counts, the recipe {beyond} is smaller still: {report.human_bytes(size_bytes)} at "
            f"{report.acc_ci(accuracy)}.")


def deployment_glue(docs: Docs) -> dict[str, str]:
    """The deployment paragraph: the recommended model, its accuracy, latency and price, or why there is none."""
    D = _values(docs, "deployment")
    rec = value(D, "recommended/by_size")
    out = {"c-deploy": ("is the full model itself: no model of the pipeline stays within the deployment chapter's "
                        "tolerance of the full model on the selection half, so every compressed file costs accuracy "
                        "this rule does not accept ({numref}`fig-d-latency` shows what each would gain)."),
           "c-price": ""}
    if rec:  # the paragraph names the model; its clauses depend on how that model was made
        d_acc = acc(D, "recommended/accuracy")
        fp32 = 4 * _values(docs, "baseline")["parameters"]["value"]
        packed = D["recommended/packed_bytes"]["value"]
        ort = D.get("runtimes/recommended/ort-fp32/latency_s")
        loss = d_acc["accuracy"] - acc(D, "full/accuracy")["accuracy"]
        out["c-deploy"] = (
            f"is **{rec}** ({D['recommended/parameters']['value']:,} parameters, a {report.human_bytes(packed)} "
            f"file): the smallest file among the pipeline's models within the deployment chapter's tolerance of the "
            f"full model on the selection half. On the reporting half it reaches {report.acc_ci(d_acc)} "
            f"({report.pp(loss)} from the full model), from a file {fp32 / packed:,.0f}× smaller than the full "
            f"model's float32 weights, and PyTorch answers a single image with it in "
            f"{1e3 * D[f'pipeline/{rec}/latency_s']['value']:.3f} ms on this machine against "
            f"{1e3 * D['full/fastest_fp32_latency_s']['value']:.2f} ms for the full model at its fastest"
            + (f"; ONNX Runtime takes {1e3 * ort['value']:.3f} ms" if ort else "")
            + " ({numref}`fig-d-latency`, {numref}`tbl-d-runtimes-small`). Why this one: memory and bandwidth, not "
              "arithmetic, limit a small server, and pruning whole neurons shrinks both the file and the work, while "
              "quantization shrinks the file further; the lab's own methods alone get nowhere near this size at this "
              "accuracy ({numref}`fig-c-answers`).")
        out["c-price"] = price_text(D["recommended/distill_epochs"]["value"], improved_pick(docs))
    beyond = frontier_choice(docs)
    out["c-frontier"] = (frontier_text(beyond, D[f"frontier/{beyond}/bytes"]["value"],
                                       acc(D, f"frontier/{beyond}/accuracy")) if beyond else
                         frontier_text(None, None, None))
    return out


def deployment_paragraph(docs: Docs) -> str:
    """The deployment paragraph as Markdown. Shown as a cell's output, not glued: a glued text's {numref} roles
    are printed verbatim, and which tables it may cite depends on whether a model was recommended."""
    parts = deployment_glue(docs)
    return " ".join(["**The model to deploy on a low-resource server**",
                     *(t for t in (parts["c-deploy"], parts["c-price"], parts["c-frontier"]) if t)])


def show_deployment(docs: Docs) -> None:
    """Show the deployment paragraph."""
    report.markdown(deployment_paragraph(docs))
