// Keyboard shortcuts, listed by `?` in a dialog (Esc closes it).
import { useEffect, useRef } from "preact/hooks";

export const SHORTCUTS: [string, string][] = [
  ["?", "Show these shortcuts"],
  ["/", "Search your chats"],
  ["Enter", "Send the message"],
  ["Shift + Enter", "New line in the message"],
  ["Esc", "Stop the agent's answer (or close this list)"],
];

export function Shortcuts() {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLElement && e.target.closest("input, textarea, select, [contenteditable]");
      if (e.key === "?" && !typing && !dialog.current?.open) {
        e.preventDefault();
        dialog.current?.showModal();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);
  return (
    <dialog ref={dialog} class="shortcuts" aria-labelledby="shortcuts-title">
      <h2 id="shortcuts-title">Keyboard shortcuts</h2>
      <table>
        <tbody>
          {SHORTCUTS.map(([keys, what]) => (
            <tr key={keys}><th scope="row"><kbd>{keys}</kbd></th><td>{what}</td></tr>
          ))}
        </tbody>
      </table>
      <form method="dialog"><button type="submit">Close</button></form>
    </dialog>
  );
}
