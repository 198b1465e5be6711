/** A message as a member's stream delivered it. */
export interface DeliveredMessage {
  /** The room's sequence number. */
  sequence: number;
  /** The sender's user id, as the server stamped it. */
  sender: string;
  /** The sender's own number for the message: its 1st, 2nd, ... */
  number: number;
}

/** What a room's members received, against what its members sent. */
export interface RoomDeliverySummary {
  room: string;
  members: number;
  /** Messages the members sent. */
  sent: number;
  /** Messages the members received, summed over members. */
  delivered: number;
  /** Messages some member never received (a member counts each one it missed). */
  lost: number;
  /** Messages a member received more than once (each extra copy counts). */
  duplicated: number;
  /** Times a member received a sender's message after a later one of the same sender. */
  reordered: number;
  /** Times a member's room sequence did not go up by exactly one. */
  sequenceBreaks: number;
  /** Times two members saw different messages under one sequence number. */
  mismatched: number;
}

/**
 * Checks one room's deliveries as they arrive, cheaply enough for hundreds of thousands of them:
 * per member and sender, the numbers received in order; per member, the room sequence; per room,
 * which message each sequence number stands for.
 */
export class RoomDeliveryCheck {
  /** receiver -> sender -> the sender's message numbers, in arrival order. */
  private readonly received = new Map<string, Map<string, number[]>>();
  private readonly lastSequence = new Map<string, number>();
  private readonly sentBy = new Map<string, number>();
  /** sequence -> `sender#number`, from whichever member saw it first. */
  private readonly messageAt = new Map<number, string>();
  private sequenceBreaks = 0;
  private mismatched = 0;
  private delivered = 0;

  constructor(
    readonly room: string,
    private readonly members: readonly string[],
  ) {
    for (const member of members) {
      this.received.set(member, new Map(members.map((sender) => [sender, []])));
      this.lastSequence.set(member, 0);
      this.sentBy.set(member, 0);
    }
  }

  /** How many messages `receiver` has received so far. */
  receivedBy(receiver: string): number {
    let count = 0;
    for (const numbers of this.received.get(receiver)!.values()) count += numbers.length;
    return count;
  }

  /** Notes that `sender` sent its message number `number` (1, 2, ...). */
  sent(sender: string, number: number): void {
    this.sentBy.set(sender, Math.max(this.sentBy.get(sender)!, number));
  }

  /** Messages sent so far by every member. */
  get totalSent(): number {
    let total = 0;
    for (const count of this.sentBy.values()) total += count;
    return total;
  }

  record(receiver: string, message: DeliveredMessage): void {
    this.delivered++;
    const last = this.lastSequence.get(receiver)!;
    if (message.sequence !== last + 1) this.sequenceBreaks++;
    this.lastSequence.set(receiver, message.sequence);
    const identity = `${message.sender}#${message.number}`;
    const seen = this.messageAt.get(message.sequence);
    if (seen === undefined) this.messageAt.set(message.sequence, identity);
    else if (seen !== identity) this.mismatched++;
    const numbers = this.received.get(receiver)!.get(message.sender);
    // A sender outside the room counts as a mismatch: no member of it sent that.
    if (numbers) numbers.push(message.number);
    else this.mismatched++;
  }

  summary(): RoomDeliverySummary {
    let lost = 0;
    let duplicated = 0;
    let reordered = 0;
    for (const bySender of this.received.values()) {
      for (const [sender, numbers] of bySender) {
        const unique = new Set(numbers);
        duplicated += numbers.length - unique.size;
        for (let n = 1; n <= this.sentBy.get(sender)!; n++) if (!unique.has(n)) lost++;
        for (let i = 1; i < numbers.length; i++) if (numbers[i]! < numbers[i - 1]!) reordered++;
      }
    }
    return {
      room: this.room,
      members: this.members.length,
      sent: this.totalSent,
      delivered: this.delivered,
      lost,
      duplicated,
      reordered,
      sequenceBreaks: this.sequenceBreaks,
      mismatched: this.mismatched,
    };
  }
}
