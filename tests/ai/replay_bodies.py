"""The project's own Gemini answers in the shapes of bodies recorded from the live API.

Each body here is modelled on one file of ``../shared/data/gemini-recorded/`` (named in
``modelled_on``; that folder's SOURCES.md says where each was recorded): the same fields, the
same nesting, the same fields left out, the same kinds of values, with our own words, our own
small pictures and our own ids. None is copied: the recorded files are others' data and stay
where they are (``bench/gemini_replay.py`` replays them from there). ``tests/ai/test_replay.py``
replays these through the stand-in, the real SDK and the adapter on both API versions.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

__all__ = ["BODIES", "ReplayBody", "body", "picture"]


def picture(kind: str = "JPEG", size: tuple[int, int] = (16, 9)) -> bytes:
    """A small picture of our own (a warm wall over a wooden floor)."""
    image = Image.new("RGB", size, (222, 208, 186))
    image.paste((133, 94, 61), (0, size[1] * 2 // 3, size[0], size[1]))
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# An opaque signature of our own, the length of the shortened recorded ones (88 characters).
_SIGNATURE = _b64(bytes(range(7, 73)))
_HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}
_QUOTA_TEXT = (
    "You exceeded your current quota, please check your plan and billing details. For more"
    " information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
    " To monitor your current usage, head to: https://ai.dev/rate-limit. "
)


@dataclass(frozen=True)
class ReplayBody:
    """One answer: its HTTP status, its JSON body, and the recorded file it is modelled on."""

    name: str
    modelled_on: str
    status: int
    body: dict[str, Any]


_BODIES: list[ReplayBody] = [
    ReplayBody(
        "image_only_pro",
        "image_only_gemini-3-pro-image.json",
        200,
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {
                                "inlineData": {"data": _b64(picture()), "mimeType": "image/jpeg"},
                                "thoughtSignature": _SIGNATURE,
                            }
                        ],
                        "role": "model",
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "modelVersion": "gemini-3-pro-image",
            "responseId": "rP1aVisualizerReplay01",
            "usageMetadata": {
                "candidatesTokenCount": 1218,
                "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
                "promptTokenCount": 31,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}],
                "serviceTier": "standard",
                "thoughtsTokenCount": 164,
                "totalTokenCount": 1413,
            },
        },
    ),
    ReplayBody(
        "image_only_flash",
        "image_only_gemini-3.1-flash-image.json",
        200,
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {
                                "inlineData": {"mimeType": "image/jpeg", "data": _b64(picture())},
                                "thoughtSignature": _b64(b"visualizer-signature"),
                            }
                        ],
                        "role": "model",
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 12,
                "candidatesTokenCount": 1390,
                "totalTokenCount": 1402,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
                "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
                "serviceTier": "standard",
            },
            "modelVersion": "gemini-3.1-flash-image",
            "responseId": "rP1aVisualizerReplay02",
        },
    ),
    ReplayBody(
        "text_and_image",
        "text_and_image_gemini-2.5-flash-image.json",
        200,
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"text": "Here is the oak sideboard against the sunlit wall. "},
                            {"inlineData": {"data": _b64(picture("PNG")), "mimeType": "image/png"}},
                        ],
                        "role": "model",
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "modelVersion": "gemini-2.5-flash-image",
            "responseId": "rP1aVisualizerReplay03",
            "usageMetadata": {
                "candidatesTokenCount": 1302,
                "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
                "promptTokenCount": 19,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 19}],
                "totalTokenCount": 1321,
            },
        },
    ),
    ReplayBody(
        "text_and_image_signed",
        "text_and_image_thoughtsig_gemini-3-pro-image-preview.json",
        200,
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {
                                "text": "The sofa now stands under the window, its shadow on"
                                " the rug.\n\n",
                                "thoughtSignature": _SIGNATURE,
                            },
                            {
                                "inlineData": {"data": _b64(picture()), "mimeType": "image/jpeg"},
                                "thoughtSignature": _SIGNATURE,
                            },
                        ],
                        "role": "model",
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "modelVersion": "gemini-3-pro-image-preview",
            "responseId": "rP1aVisualizerReplay04",
            "usageMetadata": {
                "candidatesTokenCount": 1140,
                "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
                "promptTokenCount": 16,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 16}],
                "thoughtsTokenCount": 170,
                "totalTokenCount": 1326,
            },
        },
    ),
    ReplayBody(
        "text_only_from_image_model",
        "text_only_from_image_model_gemini-2.5-flash-image.json",
        200,
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {
                                "text": "A low walnut table would suit this reading corner,"
                                " beside the armchair and under the lamp."
                            }
                        ],
                        "role": "model",
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "modelVersion": "gemini-2.5-flash-image",
            "responseId": "rP1aVisualizerReplay05",
            "usageMetadata": {
                "candidatesTokenCount": 52,
                "promptTokenCount": 21,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 21}],
                "totalTokenCount": 73,
            },
        },
    ),
    ReplayBody(
        "no_image",
        "no_image_gemini-3.1-flash-image-preview.json",
        200,
        {
            "candidates": [{"content": {}, "finishReason": "NO_IMAGE", "index": 0}],
            "usageMetadata": {
                "promptTokenCount": 11,
                "totalTokenCount": 11,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
                "serviceTier": "standard",
            },
            "modelVersion": "gemini-3.1-flash-image-preview",
            "responseId": "rP1aVisualizerReplay06",
        },
    ),
    ReplayBody(
        "prompt_blocked",
        "prompt_blocked_prohibited_content_gemini-3.1-flash-image-preview.json",
        200,
        {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {
                "promptTokenCount": 8,
                "totalTokenCount": 8,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
                "serviceTier": "standard",
            },
            "modelVersion": "gemini-3.1-flash-image-preview",
            "responseId": "rP1aVisualizerReplay07",
        },
    ),
    ReplayBody(
        "safety_no_content",
        "finish_safety_no_content_gemini-1.5-flash.json",
        200,
        {
            "candidates": [
                {
                    "content": {},
                    "finishReason": "SAFETY",
                    "safetyRatings": [
                        {
                            "blocked": True,
                            "category": "HARM_CATEGORY_HARASSMENT",
                            "probability": "MEDIUM",
                        },
                        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
                        {
                            "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                            "probability": "NEGLIGIBLE",
                        },
                        {
                            "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                            "probability": "NEGLIGIBLE",
                        },
                    ],
                }
            ],
            "modelVersion": "gemini-1.5-flash",
            "responseId": "rP1aVisualizerReplay08",
            "usageMetadata": {
                "promptTokenCount": 17,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 17}],
                "totalTokenCount": 17,
            },
        },
    ),
    ReplayBody(
        "json_answer",
        "json_answer_gemini-2.5-flash.json",
        200,
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {
                                "text": '{"room_type": "bedroom", "style": ["scandinavian"],'
                                ' "lighting": "soft daylight", "palette": ["#e8e2d6"],'
                                ' "camera_angle": "eye level", "floor_line": 0.7}'
                            }
                        ],
                        "role": "model",
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "modelVersion": "gemini-2.5-flash",
            "responseId": "rP1aVisualizerReplay09",
            "usageMetadata": {
                "candidatesTokenCount": 48,
                "promptTokenCount": 402,
                "promptTokensDetails": [
                    {"modality": "TEXT", "tokenCount": 144},
                    {"modality": "IMAGE", "tokenCount": 258},
                ],
                "serviceTier": "standard",
                "thoughtsTokenCount": 57,
                "totalTokenCount": 507,
            },
        },
    ),
    ReplayBody(
        "max_tokens_empty",
        "max_tokens_empty_gemini-2.5-pro.json",
        200,
        {
            "candidates": [
                {"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}
            ],
            "modelVersion": "gemini-2.5-pro",
            "responseId": "rP1aVisualizerReplay10",
            "usageMetadata": {
                "promptTokenCount": 13,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 13}],
                "serviceTier": "standard",
                "thoughtsTokenCount": 4,
                "totalTokenCount": 17,
            },
        },
    ),
    ReplayBody(
        "error_404",
        "error_404_model_not_found.json",
        404,
        {
            "error": {
                "code": 404,
                "message": "models/gemini-3.8-flahs is not found for API version v1beta, or is"
                " not supported for generateContent. Call ModelService.ListModels to see the"
                " list of available models and their supported methods.",
                "status": "NOT_FOUND",
            }
        },
    ),
    ReplayBody(
        "error_400",
        "error_400_invalid_argument.json",
        400,
        {
            "error": {
                "code": 400,
                "message": "Image size 8K is not supported for this model. Please retry with"
                " another image size.",
                "status": "INVALID_ARGUMENT",
            }
        },
    ),
    ReplayBody(
        "error_503",
        "error_503_unavailable.json",
        503,
        {
            "error": {
                "code": 503,
                "message": "The model is overloaded. Please try again later.",
                "status": "UNAVAILABLE",
            }
        },
    ),
    ReplayBody(
        "error_429_minute",
        "error_429_per_minute_free_tier.json",
        429,
        {
            "error": {
                "code": 429,
                "message": _QUOTA_TEXT + "\n* Quota exceeded for metric: generativelanguage."
                "googleapis.com/generate_content_free_tier_requests, limit: 10, model:"
                " gemini-3.8-flash\nPlease retry in 41.503318214s.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    _HELP,
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_content_free_tier_requests",
                                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                                "quotaDimensions": {
                                    "model": "gemini-3.8-flash",
                                    "location": "global",
                                },
                                "quotaValue": "10",
                            }
                        ],
                    },
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "41s"},
                ],
            }
        },
    ),
    ReplayBody(
        "error_429_day_paid",
        "error_429_per_day_paid_no_retryinfo.json",
        429,
        {
            "error": {
                "code": 429,
                "message": _QUOTA_TEXT + "\n* Quota exceeded for metric: generativelanguage."
                "googleapis.com/generate_requests_per_model_per_day, limit: 0",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    _HELP,
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_requests_per_model_per_day",
                                "quotaId": "GenerateRequestsPerDayPerProjectPerModel",
                            }
                        ],
                    },
                ],
            }
        },
    ),
    ReplayBody(
        "error_429_day_and_minute",
        "error_429_day_and_minute_limit0_free_tier.json",
        429,
        {
            "error": {
                "code": 429,
                "message": _QUOTA_TEXT
                + "".join(
                    f"\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
                    f"generate_content_free_tier_{metric}, limit: 0, model: gemini-3.8-flash"
                    for metric in ("requests", "requests", "input_token_count")
                )
                + "\nPlease retry in 2.40531187s.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    _HELP,
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                f"generate_content_free_tier_{metric}",
                                "quotaId": f"{quota}-FreeTier",
                                "quotaDimensions": {
                                    "location": "global",
                                    "model": "gemini-3.8-flash",
                                },
                            }
                            for metric, quota in (
                                ("requests", "GenerateRequestsPerDayPerProjectPerModel"),
                                ("requests", "GenerateRequestsPerMinutePerProjectPerModel"),
                                (
                                    "input_token_count",
                                    "GenerateContentInputTokensPerModelPerMinute",
                                ),
                            )
                        ],
                    },
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"},
                ],
            }
        },
    ),
    ReplayBody(
        "error_429_help_only",
        "error_429_help_only_sticky_daily.json",
        429,
        {
            "error": {
                "code": 429,
                "message": _QUOTA_TEXT,
                "status": "RESOURCE_EXHAUSTED",
                "details": [_HELP],
            }
        },
    ),
    ReplayBody(
        "batch_pending",
        "batch_create_pending.json",
        200,
        {
            "name": "batches/vz0replay4pending7job2",
            "metadata": {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1main"
                ".GenerateContentBatch",
                "model": "models/gemini-nano-banana-2.1",
                "displayName": "flow replay [a1b2c3d4e5f6]",
                "inputConfig": {"fileName": "files/vz0replayin1"},
                "createTime": "2026-11-30T09:14:02.118402913Z",
                "updateTime": "2026-11-30T09:14:02.118402913Z",
                "batchStats": {"requestCount": "3", "pendingRequestCount": "3"},
                "state": "BATCH_STATE_PENDING",
                "name": "batches/vz0replay4pending7job2",
            },
        },
    ),
    ReplayBody(
        "batch_succeeded",
        "batch_get_succeeded.json",
        200,
        {
            "name": "batches/vz0replay4pending7job2",
            "metadata": {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1main"
                ".GenerateContentBatch",
                "model": "models/gemini-nano-banana-2.1",
                "displayName": "flow replay [a1b2c3d4e5f6]",
                "inputConfig": {"fileName": "files/vz0replayin1"},
                "output": {"responsesFile": "files/batch-vz0replay4pending7job2"},
                "createTime": "2026-11-30T09:14:02.118402913Z",
                "endTime": "2026-11-30T09:31:47.900113250Z",
                "updateTime": "2026-11-30T09:31:47.900113127Z",
                "batchStats": {"requestCount": "3", "successfulRequestCount": "3"},
                "state": "BATCH_STATE_SUCCEEDED",
                "name": "batches/vz0replay4pending7job2",
            },
            "done": True,
            "response": {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1main"
                ".GenerateContentBatchOutput",
                "responsesFile": "files/batch-vz0replay4pending7job2",
            },
        },
    ),
]

BODIES: dict[str, ReplayBody] = {b.name: b for b in _BODIES}


def body(name: str) -> dict[str, Any]:
    """A fresh copy of the body called ``name`` (tests may change it)."""
    import copy

    return copy.deepcopy(BODIES[name].body)
