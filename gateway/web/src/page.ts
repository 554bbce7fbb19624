// What a route leaves running. Its own module so the pages and the router (main.ts) both use
// it without importing each other.

/** What a route leaves running (calls, timers, charts); stopped when the route changes. */
export interface Page {
  stop(): void;
}
