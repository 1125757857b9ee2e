"""The sequence classifier: training (torch), export (ONNX, int8), registry, batch scoring
(ONNX Runtime only) and evaluation against the rules and an unsupervised baseline."""


class ModelError(RuntimeError):
    """Anything the classifier commands report to a person: the message says what to do."""
