"""Export the fitted scikit-learn pipeline (imputation + CatBoost, or the two-stage model) to one ONNX graph.

skl2onnx has no CatBoost converter: the parser and converter below (after the skl2onnx gallery example for
CatBoost) wrap CatBoost's own ONNX export of the tree ensemble. They use private skl2onnx helpers, so skl2onnx is
pinned and the export is tested.
"""

from __future__ import annotations

import numpy as np
import onnx
from catboost import CatBoostClassifier
from catboost.utils import convert_to_onnx_object
from onnx import TensorProto
from onnx.helper import get_attribute_value
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx._parse import _apply_zipmap, _get_sklearn_operator_name
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, guess_tensor_type
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from sklearn.pipeline import Pipeline

from triage.model.knowledge import FEATURE_NAMES as KNOWLEDGE_FEATURES
from triage.model.knowledge import KnowledgeFeatures
from triage.model.two_stage import TwoStageClassifier
from triage_shared.onnx import INPUT_NAME
from triage_shared.onnx import session as onnx_session

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


class ParityError(AssertionError):
    """ONNX Runtime and the native pipeline disagree."""


def _parse_catboost(scope, model, inputs, custom_parsers=None):
    options = scope.get_options(model, dict(zipmap=True))
    no_zipmap = isinstance(options["zipmap"], bool) and not options["zipmap"]
    operator = scope.declare_local_operator(_get_sklearn_operator_name(type(model)), model)
    operator.inputs = inputs
    label = scope.declare_local_variable("label", Int64TensorType())
    probabilities = scope.declare_local_variable("probabilities", guess_tensor_type(inputs[0].type))
    operator.outputs.append(label)
    operator.outputs.append(probabilities)
    if no_zipmap:
        return operator.outputs
    return _apply_zipmap(options["zipmap"], scope, model, inputs[0].type, operator.outputs)


def _add_catboost_node(scope, container, model: CatBoostClassifier, input_name: str, outputs: list[str]) -> None:
    """CatBoost's own ONNX export of the tree ensemble, copied into the graph being built."""
    exported = convert_to_onnx_object(model)
    opsets = {entry.domain: entry.version for entry in exported.opset_import}
    if len(exported.graph.initializer) or len(exported.graph.sparse_initializer):
        raise NotImplementedError("CatBoost's ONNX graph has initializers; the converter expects a single node")
    node = exported.graph.node[0]
    container.add_node(node.op_type, [input_name], outputs, op_domain=node.domain, op_version=opsets.get(node.domain),
                       name=scope.get_unique_operator_name("CatBoost"),
                       **{attribute.name: get_attribute_value(attribute) for attribute in node.attribute})


def _convert_catboost(scope, operator, container):
    _add_catboost_node(scope, container, operator.raw_operator, operator.inputs[0].full_name,
                       [operator.outputs[0].full_name, operator.outputs[1].full_name])


def _convert_two_stage(scope, operator, container):
    """P = [(1 - p_orphan) * q_common, p_orphan]; label = argmax P."""
    model, features = operator.raw_operator, operator.inputs[0].full_name
    probabilities = {}
    for key, submodel in (("orphan", model.orphan_model_), ("common", model.common_model_)):
        label = scope.get_unique_variable_name(f"{key}_label")
        probabilities[key] = scope.get_unique_variable_name(f"{key}_probabilities")
        _add_catboost_node(scope, container, submodel, features, [label, probabilities[key]])
    column, one = scope.get_unique_variable_name("orphan_column"), scope.get_unique_variable_name("one")
    container.add_initializer(column, TensorProto.INT64, [1], [1])
    container.add_initializer(one, TensorProto.FLOAT, [1], [1.0])
    p_orphan, rest, common = (scope.get_unique_variable_name(n) for n in ("p_orphan", "p_not_orphan", "p_common"))
    container.add_node("Gather", [probabilities["orphan"], column], [p_orphan], axis=1,
                       name=scope.get_unique_operator_name("Gather"))
    container.add_node("Sub", [one, p_orphan], [rest], name=scope.get_unique_operator_name("Sub"))
    container.add_node("Mul", [probabilities["common"], rest], [common], name=scope.get_unique_operator_name("Mul"))
    container.add_node("Concat", [common, p_orphan], [operator.outputs[1].full_name], axis=1,
                       name=scope.get_unique_operator_name("Concat"))
    container.add_node("ArgMax", [operator.outputs[1].full_name], [operator.outputs[0].full_name], axis=1,
                       keepdims=0, name=scope.get_unique_operator_name("ArgMax"))


def _knowledge_shape(operator) -> None:
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), len(KNOWLEDGE_FEATURES)])


class _Graph:
    """Adds nodes and constants to the graph being built, with unique names."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def constant(self, name: str, array: np.ndarray) -> str:
        unique = self.scope.get_unique_variable_name(name)
        kinds = {np.dtype(np.float64): TensorProto.DOUBLE, np.dtype(np.int64): TensorProto.INT64,
                 np.dtype(np.float32): TensorProto.FLOAT}
        self.container.add_initializer(unique, kinds[array.dtype], list(array.shape), array.ravel().tolist())
        return unique

    def node(self, op: str, inputs: list[str], output: str | None = None, **attributes) -> str:
        output = output or self.scope.get_unique_variable_name(op.lower())
        self.container.add_node(op, inputs, [output], name=self.scope.get_unique_operator_name(op), **attributes)
        return output


def _convert_knowledge(scope, operator, container):
    """The knowledge features of triage.model.knowledge, op for op in double precision as `transform` computes
    them (the weights are exact multiples of 2^-20, so the sums are exact), cast to float at the end."""
    model: KnowledgeFeatures = operator.raw_operator
    g = _Graph(scope, container)
    half, axis1 = g.constant("half", np.array([0.5], np.float32)), g.constant("axis1", np.array([1], np.int64))
    present = g.node("Cast", [g.node("Greater", [operator.inputs[0].full_name, half])], to=TensorProto.DOUBLE)
    absent = g.node("Cast", [g.node("Less", [operator.inputs[0].full_name, half])], to=TensorProto.DOUBLE)
    scores = g.node("Add", [g.node("MatMul", [present, g.constant("present_weight", model.present_weight_)]),
                            g.node("MatMul", [absent, g.constant("absent_weight", model.absent_weight_)])])
    best = g.node("ReduceMax", [scores], axes=[1], keepdims=1)
    total = g.node("ReduceSum", [g.node("Exp", [g.node("Sub", [scores, best])]), axis1], keepdims=1)
    n_diseases = g.constant("log_diseases", np.array([np.log(model.present_weight_.shape[1])], np.float64))
    mean = g.node("Sub", [g.node("Add", [g.node("Log", [total]), best]), n_diseases])
    top = g.node("ArgMax", [scores], axis=1, keepdims=0)
    matched, red = (g.node("ReduceSum", [g.node("Mul", [present, g.node("Gather", [g.constant(name, table), top],
                                                                         axis=0)]), axis1], keepdims=1)
                    for name, table in (("annotated", model.annotated_), ("red_annotated", model.red_annotated_)))
    unexplained = g.node("Sub", [g.node("ReduceSum", [present, axis1], keepdims=1), matched])
    g.node("Cast", [g.node("Concat", [best, mean, matched, red, unexplained], axis=1)], operator.outputs[0].full_name,
           to=TensorProto.FLOAT)


def register_converters() -> None:
    options = {"nocl": [True, False], "zipmap": [True, False, "force"]}
    update_registered_converter(CatBoostClassifier, "CatBoostCatBoostClassifier",
                                calculate_linear_classifier_output_shapes, _convert_catboost,
                                parser=_parse_catboost, options=options)
    update_registered_converter(TwoStageClassifier, "TriageTwoStageClassifier",
                                calculate_linear_classifier_output_shapes, _convert_two_stage,
                                parser=_parse_catboost, options=options)
    update_registered_converter(KnowledgeFeatures, "TriageKnowledgeFeatures", _knowledge_shape, _convert_knowledge)


def to_onnx(pipeline: Pipeline, n_features: int) -> onnx.ModelProto:
    """One float input [N, n_features] in contract order; outputs `label` (int64) and `probabilities` (float)."""
    register_converters()
    model = convert_sklearn(pipeline, "triage",
                            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
                            options={id(pipeline.steps[-1][1]): {"zipmap": False}}, target_opset=TARGET_OPSET)
    names = [output.name for output in model.graph.output]
    if names != ["label", "probabilities"]:
        raise ValueError(f"unexpected ONNX outputs {names}; expected ['label', 'probabilities']")
    _sort_opset_imports(model)
    return model


def _sort_opset_imports(model: onnx.ModelProto) -> None:
    """skl2onnx lists the opset imports in a set's order, which follows the interpreter's string-hash seed: sorted by
    domain, the same pipeline gives the same bytes in every process (the export stage is reproducible to the bit)."""
    ordered = sorted(model.opset_import, key=lambda entry: entry.domain)
    del model.opset_import[:]
    model.opset_import.extend(ordered)


def check_parity(pipeline: Pipeline, model_bytes: bytes, x: np.ndarray, tolerance: float) -> dict:
    """Fails on any label disagreement or a probability difference above `tolerance`."""
    session = onnx_session(model_bytes)  # the service's session, exactly
    labels, probabilities = session.run(["label", "probabilities"], {INPUT_NAME: x.astype(np.float32)})
    native = pipeline.predict_proba(x)
    native_labels = native.argmax(axis=1)
    difference = float(np.abs(probabilities - native).max())
    disagreements = int((labels.ravel() != native_labels).sum())
    report = {"rows": len(x), "max_abs_probability_difference": difference, "label_disagreements": disagreements,
              "tolerance": tolerance}
    if disagreements or difference > tolerance:
        raise ParityError(f"export: ONNX Runtime and the native pipeline disagree on {len(x)} held-out rows: "
                          f"{disagreements} labels differ, max |dp| = {difference:.2e} (tolerance {tolerance})")
    return report
