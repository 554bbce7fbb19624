// Development only (never bundled into dist/): serves dist/ like budget-gateway does (index.html
// for "/" and "/tenants/{id}", the strict CSP) and answers gRPC-web with a fake BudgetService.
//
//   node dev/run.mjs [port]      (bundles this file with esbuild, then runs it)
//
// Tenants and what they show:
//   acme      OK, 30 days of data, no alerts       globex   Warning (custom 75 % alert), 1 alert
//   initech   Grace, 25 alerts (paging)             umbrella Blocked at a 120 % grace threshold
//   hooli     GetBudgetStatus fails (UNAVAILABLE)   newco    3 days of data, 60-day period
// umbrella has a webhook and a Slack target, and its alerts show each delivery state. Saving
// notification targets with a URL containing "invalid" answers INVALID_ARGUMENT for that URL.
// Saving $999 answers INVALID_ARGUMENT with field violations, $777 answers ABORTED (as does a stale etag),
// and the tenant "gone" answers NOT_FOUND everywhere.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  AlertSchema,
  AlertType,
  AuditEventSchema,
  BudgetConfigSchema,
  BudgetService,
  BudgetState,
  BudgetStatusSchema,
  DailySpendSchema,
  DeliveryStatus,
  NotificationDeliverySchema,
  NotificationKind,
  NotificationTargetSchema,
  TenantSummarySchema,
  type Alert,
  type NotificationTarget,
  type AuditEvent,
  type BudgetConfig,
} from "./gen/budget/v1/budget_pb";
import { BadRequestSchema } from "./gen/google/rpc/error_details_pb";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const port = Number(process.argv[2] ?? 8087);
const DAY = 86_400_000;
const M = 1_000_000n;

interface Fake {
  name: string;
  config: BudgetConfig;
  spend: bigint;
  daysWithData: number;
  dailyShape: (i: number) => number; // dollars on day i of the last 30 (29 = today)
  alerts: Alert[];
  audit: AuditEvent[];
  targets?: NotificationTarget[];
  statusFails?: boolean;
}

const now = () => new Date();
const today0 = () => {
  const d = now();
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
};
let etagSeq = 1;

function cfg(tenantId: string, budget: number, alert: number, grace: number, duration: string): BudgetConfig {
  return create(BudgetConfigSchema, {
    tenantId,
    maxBudgetMicros: BigInt(budget) * M,
    alertThresholdPercent: alert,
    graceThresholdPercent: grace,
    budgetDuration: duration,
    etag: `e${etagSeq++}`,
    updateTime: timestampFromDate(new Date(Date.now() - 5 * DAY)),
  });
}

function alert(tenantId: string, i: number, type: AlertType, threshold: number, budget: number, percent: number): Alert {
  return create(AlertSchema, {
    alertId: `${tenantId}-a${i}`,
    tenantId,
    type,
    createTime: timestampFromDate(new Date(Date.now() - i * 3_600_000 * 7)),
    spendMicros: BigInt(Math.round((budget * percent) / 100)) * M,
    maxBudgetMicros: BigInt(budget) * M,
    percent,
    thresholdPercent: threshold,
    message: `Alert ${i}`,
  });
}

function audit(tenantId: string, oldC: BudgetConfig | undefined, newC: BudgetConfig, daysAgo: number, actor: string): AuditEvent {
  return create(AuditEventSchema, {
    eventId: `${tenantId}-ev${daysAgo}`,
    tenantId,
    actor,
    action: oldC ? "budget_config_updated" : "tenant_created",
    oldConfig: oldC,
    newConfig: newC,
    createTime: timestampFromDate(new Date(Date.now() - daysAgo * DAY)),
  });
}

function tenant(id: string, name: string, budget: number, alertPct: number, grace: number, duration: string, spend: number, extra: Partial<Fake> = {}): [string, Fake] {
  const config = cfg(id, budget, alertPct, grace, duration);
  const created = cfg(id, 500, 80, 110, "30d");
  return [
    id,
    {
      name,
      config,
      spend: BigInt(Math.round(spend * 100)) * 10_000n,
      daysWithData: 30,
      dailyShape: (i) => Math.max(0, (spend / 24) * (0.6 + 0.8 * Math.abs(Math.sin(i * 1.7)))),
      alerts: [],
      audit: [audit(id, created, config, 3, "alice@example.com"), audit(id, undefined, created, 40, "provisioner")],
      ...extra,
    },
  ];
}

const tenants = new Map<string, Fake>([
  tenant("acme", "Acme Corp", 500, 80, 110, "30d", 212.4),
  tenant("globex", "Globex", 1000, 75, 110, "30d", 851.2),
  tenant("initech", "Initech", 500, 80, 120, "30d", 580),
  tenant("umbrella", "Umbrella", 2000, 80, 120, "30d", 2500),
  tenant("hooli", "Hooli", 750, 80, 110, "30d", 0, { statusFails: true }),
  tenant("newco", "NewCo", 300, 80, 110, "60d", 18.5, { daysWithData: 3 }),
]);
tenants.get("globex")!.alerts = [alert("globex", 1, AlertType.THRESHOLD, 75, 1000, 76.3)];
tenants.get("initech")!.alerts = Array.from({ length: 25 }, (_, i) => {
  const kinds: [AlertType, number, number][] = [
    [AlertType.BUDGET_EXCEEDED, 100, 101.2],
    [AlertType.PROJECTED_LIMIT, 100, 91.0],
    [AlertType.THRESHOLD, 80, 80.4],
    [AlertType.BLOCKED, 120, 120.3],
  ];
  const [t, th, p] = kinds[i % 4]!;
  return alert("initech", i + 1, t, th, 500, p);
});
tenants.get("umbrella")!.alerts = [
  alert("umbrella", 1, AlertType.BLOCKED, 120, 2000, 120.1),
  alert("umbrella", 2, AlertType.BUDGET_EXCEEDED, 100, 2000, 100.2),
  alert("umbrella", 3, AlertType.THRESHOLD, 80, 2000, 80.5),
];

let targetSeq = 100;
const umbrella = tenants.get("umbrella")!;
umbrella.targets = [
  create(NotificationTargetSchema, {
    targetId: "1",
    kind: NotificationKind.WEBHOOK,
    hasSecret: true,
    description: "On-call pager",
    urlOrigin: "https://hooks.example.com",
  }),
  create(NotificationTargetSchema, { targetId: "2", kind: NotificationKind.SLACK, urlOrigin: "https://hooks.slack.com" }),
];
const deliveryStates: [DeliveryStatus, number, string][][] = [
  [
    [DeliveryStatus.PENDING, 2, "HTTP 503"],
    [DeliveryStatus.DELIVERED, 1, ""],
  ],
  [
    [DeliveryStatus.DELIVERED, 3, ""],
    [DeliveryStatus.FAILED, 14, "timed out"],
  ],
  [
    [DeliveryStatus.DELIVERED, 1, ""],
    [DeliveryStatus.DELIVERED, 1, ""],
  ],
];
umbrella.alerts.forEach((a, i) => {
  a.deliveries = deliveryStates[i]!.map(([status, attempts, lastError], j) =>
    create(NotificationDeliverySchema, {
      targetId: String(j + 1),
      kind: j === 0 ? NotificationKind.WEBHOOK : NotificationKind.SLACK,
      status,
      attempts,
      lastError,
    }),
  );
});

function find(id: string): Fake {
  const t = tenants.get(id);
  if (!t) throw new ConnectError(`tenant ${id} not found`, Code.NotFound);
  return t;
}

function percent(t: Fake): number {
  return (Number(t.spend) / Number(t.config.maxBudgetMicros)) * 100;
}

function state(t: Fake): BudgetState {
  const p = percent(t);
  if (p >= t.config.graceThresholdPercent) return BudgetState.BLOCKED;
  if (p >= 100) return BudgetState.GRACE;
  if (p >= t.config.alertThresholdPercent) return BudgetState.WARNING;
  return BudgetState.OK;
}

function resetTime(t: Fake): Date {
  const d = now();
  return t.config.budgetDuration === "30d"
    ? new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1))
    : new Date(today0() + 41 * DAY);
}

function page<T>(items: T[], size: number, token: string, def: number) {
  const start = token ? Number(token) : 0;
  const n = size > 0 ? size : def;
  const slice = items.slice(start, start + n);
  return { slice, next: start + n < items.length ? String(start + n) : "" };
}

const delay = () => new Promise((r) => setTimeout(r, 80));

function routes(router: ConnectRouter) {
  router.service(BudgetService, {
    async getBudgetStatus(req) {
      await delay();
      const t = find(req.tenantId);
      if (t.statusFails) throw new ConnectError("Budget data unavailable", Code.Unavailable);
      const reset = resetTime(t);
      const daysUntil = Math.ceil((reset.getTime() - Date.now()) / DAY);
      const rate = t.spend / 20n;
      return {
        status: create(BudgetStatusSchema, {
          tenantId: req.tenantId,
          spendMicros: t.spend,
          maxBudgetMicros: t.config.maxBudgetMicros,
          percentUsed: percent(t),
          alertThresholdPercent: t.config.alertThresholdPercent,
          graceThresholdPercent: t.config.graceThresholdPercent,
          blockAtMicros: (t.config.maxBudgetMicros * BigInt(t.config.graceThresholdPercent)) / 100n,
          alertAtMicros: (t.config.maxBudgetMicros * BigInt(t.config.alertThresholdPercent)) / 100n,
          state: state(t),
          resetTime: timestampFromDate(reset),
          daysUntilReset: daysUntil,
          budgetDuration: t.config.budgetDuration,
          fetchTime: timestampFromDate(new Date(Date.now() - 7_000)),
          projectedSpendMicros: t.spend + rate * BigInt(daysUntil),
          dailyRateMicros: rate,
        }),
      };
    },
    async getBudgetConfig(req) {
      await delay();
      return { config: find(req.tenantId).config };
    },
    async updateBudgetConfig(req) {
      await delay();
      const t = find(req.tenantId);
      const c = req.config!;
      if (c.maxBudgetMicros === 999n * M) {
        throw new ConnectError("invalid budget config", Code.InvalidArgument, undefined, [
          {
            desc: BadRequestSchema,
            value: {
              fieldViolations: [
                { field: "config.max_budget_micros", description: "Max budget must be at most $10,000,000" },
                { field: "config.budget_duration", description: "Budget period must be one of 30d, 60d, 90d" },
              ],
            },
          },
        ]);
      }
      if (c.maxBudgetMicros === 777n * M || (req.etag && req.etag !== t.config.etag)) {
        throw new ConnectError("etag mismatch", Code.Aborted);
      }
      const old = t.config;
      t.config = create(BudgetConfigSchema, { ...c, tenantId: req.tenantId, etag: `e${etagSeq++}`, updateTime: timestampFromDate(now()) });
      t.audit.unshift(audit(req.tenantId, old, t.config, 0, "you@example.com"));
      t.audit[0]!.eventId = `ev${etagSeq}`;
      return { config: t.config };
    },
    async listAlerts(req) {
      await delay();
      const t = find(req.tenantId);
      const { slice, next } = page(t.alerts, req.pageSize, req.pageToken, 10);
      return { alerts: slice, nextPageToken: next, totalSize: t.alerts.length };
    },
    async getSpendHistory(req) {
      await delay();
      const t = find(req.tenantId);
      const n = req.days || 30;
      const days = Array.from({ length: n }, (_, i) => {
        const date = new Date(today0() - (n - 1 - i) * DAY).toISOString().slice(0, 10);
        const active = i >= n - t.daysWithData;
        return create(DailySpendSchema, {
          date,
          spendMicros: active ? BigInt(Math.round(t.dailyShape(i) * 100)) * 10_000n : 0n,
        });
      });
      return { days, daysWithData: Math.min(n, t.daysWithData) };
    },
    async listTenants(req) {
      await delay();
      const f = req.filter.toLowerCase();
      const all = [...tenants.entries()]
        .filter(([id, t]) => !f || id.startsWith(f) || t.name.toLowerCase().startsWith(f))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, t]) =>
          create(TenantSummarySchema, {
            tenantId: id,
            displayName: t.name,
            maxBudgetMicros: t.config.maxBudgetMicros,
            spendMicros: t.statusFails ? 0n : t.spend,
            percentUsed: t.statusFails ? 0 : percent(t),
            state: t.statusFails ? BudgetState.UNSPECIFIED : state(t),
            statusAvailable: !t.statusFails,
          }),
        );
      // Small pages, so the client has to follow next_page_token.
      const { slice, next } = page(all, Math.min(req.pageSize || 50, 4), req.pageToken, 4);
      return { tenants: slice, nextPageToken: next };
    },
    async createTenant() {
      throw new ConnectError("not in the fake", Code.Unimplemented);
    },
    async listNotificationTargets(req) {
      await delay();
      return { targets: find(req.tenantId).targets ?? [] };
    },
    async setNotificationTargets(req) {
      await delay();
      const t = find(req.tenantId);
      const bad = req.targets.findIndex((x) => x.url.includes("invalid"));
      if (bad >= 0) {
        throw new ConnectError("invalid targets", Code.InvalidArgument, undefined, [
          {
            desc: BadRequestSchema,
            value: {
              fieldViolations: [
                {
                  field: `targets[${bad}].url`,
                  description: "URL must be an http or https address with a host, at most 2,048 characters",
                },
              ],
            },
          },
        ]);
      }
      const old = new Map((t.targets ?? []).map((x) => [x.targetId, x]));
      t.targets = req.targets.map((x) => {
        const kept = old.get(x.targetId);
        if (kept) return create(NotificationTargetSchema, { ...kept, description: x.description });
        return create(NotificationTargetSchema, {
          targetId: String(targetSeq++),
          kind: x.kind,
          hasSecret: x.secret !== "",
          description: x.description,
          urlOrigin: new URL(x.url).origin,
          createTime: timestampFromDate(now()),
        });
      });
      return { targets: t.targets };
    },
    async listAuditEvents(req) {
      await delay();
      const t = find(req.tenantId);
      const { slice, next } = page(t.audit, req.pageSize, req.pageToken, 50);
      return { events: slice, nextPageToken: next };
    },
  });
}

const grpc = connectNodeAdapter({ routes, grpcWeb: true, connect: false, grpc: false });
const types: Record<string, string> = { ".js": "text/javascript", ".css": "text/css", ".html": "text/html; charset=utf-8" };

createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname.startsWith("/budget.v1.BudgetService/")) return grpc(req, res);
  res.setHeader("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'");
  const file = url.pathname.startsWith("/assets/") ? url.pathname.slice(1) : "index.html";
  try {
    const body = await readFile(join(dist, file));
    res.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" }).end(body);
  } catch {
    res.writeHead(404).end("not found");
  }
}).listen(port, "127.0.0.1", () => console.log(`dev server on http://127.0.0.1:${port}/`));
