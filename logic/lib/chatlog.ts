import { world } from '../../state/arena.ts';
import { CHAT_KEEP } from './rules.ts';

/** Appends a chat line, keeping the last CHAT_KEEP. */
export function post(from: string, text: string): void {
  const chat = world.get().chat;
  // A new array of the lines kept and the new one, rather than push and splice
  // on the draft: immer then makes no draft per line (about ten times cheaper
  // for a long log). Either way the store sends and journals one trim and the
  // new line, not the whole log (docs/guide.md, "Lists").
  const kept = chat.slice(Math.max(0, chat.length - (CHAT_KEEP - 1)));
  world.update((w) => void (w.chat = [...kept, { at: Date.now(), from, text }]));
}
