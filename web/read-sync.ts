// Read marks shared by the tabs of one browser, in every tab mode: what the user has seen in
// one tab is not unread in the others. Every tab gets every notification itself (it polls,
// or the leader or the shared worker fans them out), so only the marks travel here.

const CHANNEL = 'busbench-read';

interface ReadMark {
  userId: number;
  channelId: number;
  upTo: number;
}

export class ReadSync {
  readonly #userId: number;
  readonly #channel = new BroadcastChannel(CHANNEL);

  /** `onMark` gets the marks other tabs of the same user set. */
  constructor(userId: number, onMark: (channelId: number, upTo: number) => void) {
    this.#userId = userId;
    this.#channel.onmessage = (event: MessageEvent<ReadMark>) => {
      if (event.data.userId === userId) onMark(event.data.channelId, event.data.upTo);
    };
  }

  share(channelId: number, upTo: number): void {
    this.#channel.postMessage({ userId: this.#userId, channelId, upTo } satisfies ReadMark);
  }
}
