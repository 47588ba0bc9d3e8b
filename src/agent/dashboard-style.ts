// Stylesheet of the dashboard (served at /dashboard/app.css).

export const DASHBOARD_CSS = `:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --line: #8884; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; gap: 1rem; align-items: baseline; padding: .75rem 1.25rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.2rem; margin: 0; }
h2 { font-size: 1rem; margin: 0 0 .5rem; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; padding: 1rem 1.25rem; }
section { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; min-width: 0; }
section.wide { grid-column: 1 / -1; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dt { opacity: .75; } dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid var(--line); }
.badge { padding: .1rem .5rem; border-radius: 999px; font-weight: 600; border: 1px solid currentColor; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); }
.muted { opacity: .65; font-weight: normal; }
.reasons { color: var(--bad); margin: .5rem 0 0; padding-left: 1.2rem; }
.feed { list-style: none; margin: 0; padding: 0; max-height: 320px; overflow: auto; font-size: 12px; }
.feed li { padding: .15rem 0; border-bottom: 1px dotted var(--line); white-space: pre-wrap; overflow-wrap: anywhere; }
.mono { font-family: ui-monospace, monospace; }
.lvl-warn { color: var(--warn); } .lvl-error, .lvl-fatal { color: var(--bad); }
`;
