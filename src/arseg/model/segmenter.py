"""The referring segmenter: query encoder + backbone + YOHO head, and its model file."""
from __future__ import annotations

import copy
import dataclasses
import pickle
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from arseg import MODEL_FORMAT_VERSION, __version__
from arseg.io import atomic
from . import aisfx
from .backbone_specs import ENCODER
from .backbones import build_backbone
from .conditioning import QueryEncoder

MODEL_FORMAT = "arseg-referring-segmenter"


class ModelFileError(ValueError):
    """A model file that is missing, not ours, or from an incompatible version."""


@dataclasses.dataclass
class ModelConfig:
    backbone: str = "yoho"
    width: float = 0.25
    query_encoder: str = "text"      # "text" or "label"
    query_dim: int = 128
    text_dim: int = 384
    labels: list = dataclasses.field(default_factory=list)  # category names (label queries)
    example_dim: int = 0             # clip embedding width of example queries (0: takes none)
    example_labels: list = dataclasses.field(default_factory=list)  # the categories examples are read as
    # Input: log-mel of a fixed window (for a backbone that reads a pretrained encoder's
    # features, those: n_mels values per frame of hop_seconds); outputs n_bins time bins over it.
    sample_rate: int = 16000
    n_mels: int = 64
    win_seconds: float = 0.025
    hop_seconds: float = 0.01
    window_seconds: float = 8.0
    n_bins: int = 25
    # Decoding defaults, chosen on validation where the workflow does so.
    threshold: float = 0.5
    merge_gap: float = 0.3
    min_duration: float = 0.1
    gate: float = 0.0                # keep a segment only if its peak presence reaches this
    # Example-clip queries' own threshold, gate and merge_gap (chosen on their validation
    # queries); empty: the values above, which text queries use.
    example_decoding: dict = dataclasses.field(default_factory=dict)
    max_false_alarm_rate: float | None = None  # the cap on validation false alarms the choice met

    @property
    def bin_width(self) -> float:
        return self.window_seconds / self.n_bins

    @property
    def encoder(self) -> str | None:
        """The pretrained encoder whose features the backbone reads (None: the log-mel)."""
        return ENCODER.get(self.backbone)

    @property
    def needs_encoder(self) -> bool:
        """Whether the model runs the pretrained encoder: on its audio, or on example clips."""
        return bool(self.encoder or self.example_dim)

    @property
    def window_frames(self) -> int:
        samples = int(round(self.window_seconds * self.sample_rate))
        if self.encoder:
            return aisfx.output_frames(samples, self.sample_rate)
        return 1 + samples // int(round(self.hop_seconds * self.sample_rate))


class Segmenter(nn.Module):
    """What one model and an ensemble of them share: a subclass encodes the audio
    (encode_audio) and answers queries on it (forward_queries)."""

    def forward(self, features: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """One query per window: (B, frames, mels), (B, ...) -> logits (B, n_bins, 3)."""
        index = torch.arange(len(features), device=features.device)
        return self.forward_queries(self.encode_audio(features), index, query)

    def count_parameters(self, trainable: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable)


class ReferringSegmenter(Segmenter):
    def __init__(self, cfg: ModelConfig, encoder: bool = True):
        """encoder: False leaves the pretrained encoder out (an ensemble's members share its own)."""
        super().__init__()
        self.cfg = cfg
        self.query = QueryEncoder(cfg.query_encoder, cfg.query_dim, cfg.text_dim, len(cfg.labels), cfg.example_dim,
                                  len(cfg.example_labels))
        self.backbone = build_backbone(cfg.backbone, cfg.n_mels, cfg.query_dim, cfg.width)
        # The frozen pretrained encoder, carried so that the model file alone segments audio
        # (infer.segment.recording_features) and embeds example clips; training reads its
        # features and clip embeddings from the workflow's caches instead.
        self.encoder = aisfx.Encoder() if cfg.needs_encoder and encoder else None
        self.head = nn.Conv1d(self.backbone.out_channels, 3, 1)
        # Per-mel-band standardisation, estimated on training features.
        self.register_buffer("feature_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("feature_std", torch.ones(cfg.n_mels))
        # Channels-last 2-D weights make every 2-D convolution's output channels-last, the
        # layout oneDNN's CPU kernels (and batch norm, pooling) are fastest in: every backbone
        # trains faster (docs/experiments.md). Converting the input would not do it: a log-mel
        # has one channel, so its channels-last strides are its plain ones.
        self.to(memory_format=torch.channels_last)

    def encode_audio(self, features: torch.Tensor) -> torch.Tensor:
        """(B, frames, mels) log-mel (or encoder features) -> (B, C, T') query-free audio features."""
        x = (features - self.feature_mean) / self.feature_std
        return self.backbone.encode(x.unsqueeze(1))

    def forward_queries(self, audio: torch.Tensor, mixture_index: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Logits (Q, n_bins, 3) for Q queries; query q refers to audio[mixture_index[q]]."""
        h = self.backbone.condition(audio[mixture_index], self.query(query))
        h = F.adaptive_avg_pool1d(h, self.cfg.n_bins)
        return self.head(h).transpose(1, 2)


class SeedEnsemble(Segmenter):
    """Models of one backbone and config trained with different seeds, answering as one: per
    bin, the mean of their sigmoid outputs (returned as its logit, so every caller of a model
    reads it unchanged). On a small real corpus it found more than its members at fewer false
    alarms (docs/experiments.md). The members share one pretrained encoder, stored once."""

    def __init__(self, cfg: ModelConfig, n_members: int):
        super().__init__()
        self.cfg = cfg
        self.members = nn.ModuleList(ReferringSegmenter(cfg, encoder=False) for _ in range(n_members))
        self.encoder = aisfx.Encoder().to(memory_format=torch.channels_last) if cfg.needs_encoder else None

    @classmethod
    def of(cls, models: list[ReferringSegmenter]) -> "SeedEnsemble":
        """The ensemble of trained models (their weights copied; the first one's encoder and config)."""
        ensemble = cls(models[0].cfg, len(models))
        for member, model in zip(ensemble.members, models):
            member.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")})
        if ensemble.encoder is not None:
            ensemble.encoder.load_state_dict(models[0].encoder.state_dict())
        return ensemble

    def encode_audio(self, features: torch.Tensor) -> list[torch.Tensor]:
        return [member.encode_audio(features) for member in self.members]

    def forward_queries(self, audio: list[torch.Tensor], mixture_index: torch.Tensor,
                        query: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack([torch.sigmoid(member.forward_queries(a, mixture_index, query))
                                     for member, a in zip(self.members, audio)]).mean(0)
        return torch.logit(probabilities, eps=1e-7)


def prepare_for_inference(model: ReferringSegmenter) -> ReferringSegmenter:
    """A copy of the model, in eval mode, that computes the same outputs faster: each batch
    norm that follows a convolution is folded into it. Every inference goes through it:
    `arseg segment`, the workflow's predictions, and validation during training."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fast = copy.deepcopy(model).eval()
    pairs = ((nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d))
    for module in fast.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if any(type(conv) is c and type(norm) is b for c, b in pairs) and norm.track_running_stats \
                    and conv.out_channels == norm.num_features:
                module[i] = fuse_conv_bn_eval(conv, norm)
                module[i + 1] = nn.Identity()
    return fast


def save_model(model: ReferringSegmenter | SeedEnsemble, path: str | Path, extra: dict | None = None,
               provenance: dict | None = None) -> None:
    """Weights plus the config that made them; loadable with torch.load(weights_only=True).
    provenance: what made the model (arseg.provenance.record), shown by `arseg models`."""
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "arseg_version": __version__,
        "config": dataclasses.asdict(model.cfg),
        "members": len(model.members) if isinstance(model, SeedEnsemble) else 0,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
        "provenance": provenance or {},
    }
    with atomic.atomic_path(path, suffix=".tmp.pt") as tmp:
        torch.save(payload, tmp)


def load_failure(error: Exception) -> str:
    """Why torch.load failed, in a line: the error's type and its first sentence (torch goes
    on with advice that is not ours to give)."""
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0].split('. ')[0]}"


def wrong_types(cfg: ModelConfig) -> str:
    """The first setting whose value is not of its default's kind (a number, text, a list,
    a mapping), as a phrase; "" when all are."""
    kinds = ((bool, "true or false"), ((int, float), "a number"), (str, "text"), (list, "a list"), (dict, "a mapping"))
    for field in dataclasses.fields(ModelConfig):
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        value = getattr(cfg, field.name)
        for kind, said in kinds:
            if isinstance(default, kind):
                if not isinstance(value, kind) or (kind != bool and isinstance(value, bool)):
                    return f"{field.name} = {value!r}, not {said}"
                break
    return ""


def zip_damage(path: Path) -> str:
    """Which member of a torch.save archive fails its checksum ("" when none does, or when
    it is no readable archive: torch.load then says why). torch.load checks no checksum, so
    a damaged file would load and answer otherwise."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception:  # noqa: BLE001 - unreadable as a zip in any way: torch.load says why
        return ""
    return f"its part {bad.split('/', 1)[-1]} fails its checksum" if bad else ""  # the name below the archive's folder


def load_model(path: str | Path, device: str = "cpu") -> tuple[ReferringSegmenter | SeedEnsemble, dict]:
    """Load a model file written by save_model; raise ModelFileError naming the file otherwise."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path}: a folder, not a model file (give its model.pt)")
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive
            raise ModelFileError(f"{path}: not an arseg model file (not a file torch.save writes); give the "
                                 "model.pt a training wrote (results/models/<backbone>/seed<n>/model.pt)")
    if damage := zip_damage(path):
        raise ModelFileError(f"{path}: damaged ({damage}); copy it again or retrain it")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in str(error):
            # torch's own advice (to load it unsafely) is not ours to give
            raise ModelFileError(f"{path}: not an arseg model file (it holds objects other than tensors and "
                                 "plain values, and is not loaded: that would run code from the file)") from None
        raise ModelFileError(f"{path}: not an arseg model file, or one cut short or damaged "
                             f"({load_failure(error)})") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not an arseg model file (no '{MODEL_FORMAT}' header)")
    if payload.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {payload.get('format_version')} (arseg {payload.get('arseg_version')}); "
            f"this arseg {__version__} reads version {MODEL_FORMAT_VERSION}; retrain or use a matching arseg")
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    cfg = ModelConfig(**{k: v for k, v in payload["config"].items() if k in known})
    if wrong := wrong_types(cfg):
        raise ModelFileError(f"{path}: its config holds {wrong} (an edited model file?)")
    model = SeedEnsemble(cfg, payload["members"]) if payload.get("members") else ReferringSegmenter(cfg)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:  # torch lists every mismatch: the count and the first say enough
        problems = [line.strip() for line in str(error).splitlines()[1:] if line.strip()] or [str(error)]
        raise ModelFileError(f"{path}: weights do not fit the model its config describes ({len(problems)} "
                             f"mismatch{'es' * (len(problems) > 1)}; the first: {problems[0]})") from None
    model.to(device).eval()
    model.provenance = payload.get("provenance", {})  # what made it: arseg.provenance.record
    return model, payload.get("extra", {})
