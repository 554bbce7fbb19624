// api.ts builds its transport from window.location at import time; node has no window.
(globalThis as { window?: unknown }).window ??= { location: { origin: "http://127.0.0.1:1" } };
