import { world } from '../../state/arena.ts';
import { CHAT_KEEP } from './rules.ts';

/** Appends a chat line, keeping the last CHAT_KEEP. */
export function post(from: string, text: string): void {
  world.update((w) => {
    w.chat.push({ at: Date.now(), from, text });
    if (w.chat.length > CHAT_KEEP) w.chat.splice(0, w.chat.length - CHAT_KEEP);
  });
}
