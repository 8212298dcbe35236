// The doubly linked lists KSM keeps (include/linux/list.h, Linux 6.18), for objects that embed
// their links as fields, as the kernel's structs embed a list_head or hlist_node:
// - list_head: circular, through a sentinel head (ksm_mm_head and the mm_slots' mm_node);
// - hlist: a head with one pointer, nodes that know the link pointing at them (pprev), so that
//   hlist_del() needs no head (a chain's dups on hlist_dup);
// - the id hlist: the same over rmap_item ids in typed arrays, 0 as NULL (a stable node's
//   rmap_items on rmap_item->hlist).
// Every operation is the kernel's, under its name; nothing allocates.

/** struct list_head, embedded: the object itself is the node (a sentinel head is one too). */
export interface ListHead<T> {
  next: T;
  prev: T;
}

/** INIT_LIST_HEAD(): an empty list, or an entry on none. */
function INIT_LIST_HEAD<T extends ListHead<T>>(list: T): void {
  list.next = list;
  list.prev = list;
}

/** list_empty(). */
export function list_empty<T extends ListHead<T>>(head: T): boolean {
  return head.next === head;
}

function __list_add<T extends ListHead<T>>(entry: T, prev: T, next: T): void {
  next.prev = entry;
  entry.next = next;
  entry.prev = prev;
  prev.next = entry;
}

/** list_add(): insert entry right after head. */
function list_add<T extends ListHead<T>>(entry: T, head: T): void {
  __list_add(entry, head, head.next);
}

/** list_add_tail(): insert entry right before head (at the tail of the list head starts). */
export function list_add_tail<T extends ListHead<T>>(entry: T, head: T): void {
  __list_add(entry, head.prev, head);
}

function __list_del_entry<T extends ListHead<T>>(entry: T): void {
  entry.next.prev = entry.prev;
  entry.prev.next = entry.next;
}

/** list_del_init(): unlink entry and leave it an empty list (the kernel's list_del() poisons the
 * links instead; mmsim's entries are garbage-collected, so the empty state is what stays). */
export function list_del_init<T extends ListHead<T>>(entry: T): void {
  __list_del_entry(entry);
  INIT_LIST_HEAD(entry);
}

/** list_move(): unlink entry and insert it right after head. */
export function list_move<T extends ListHead<T>>(entry: T, head: T): void {
  __list_del_entry(entry);
  list_add(entry, head);
}

/** What an hlist_node's pprev points at: the head's first pointer or the previous node's next. */
export interface HlistLink<T> {
  next: T | null;
}

/** struct hlist_head: `next` is the kernel's `first` (so that pprev can point at either). */
export class HlistHead<T> implements HlistLink<T> {
  next: T | null = null;

  /** hlist_head->first. */
  get first(): T | null {
    return this.next;
  }
}

/** struct hlist_node, embedded: next, and pprev (null while unhashed). */
export interface HlistNode<T> extends HlistLink<T> {
  pprev: HlistLink<T> | null;
}

/** hlist_empty(). */
export function hlist_empty<T>(h: HlistHead<T>): boolean {
  return h.next === null;
}

/** hlist_add_head(). */
export function hlist_add_head<T extends HlistNode<T>>(n: T, h: HlistHead<T>): void {
  const first = h.next;
  n.next = first;
  if (first !== null) first.pprev = n;
  h.next = n;
  n.pprev = h;
}

/** hlist_del_init() (hlist_del() poisons the links instead; see list_del_init()). */
export function hlist_del_init<T extends HlistNode<T>>(n: T): void {
  const next = n.next;
  n.pprev!.next = next;
  if (next !== null) next.pprev = n.pprev;
  n.next = null;
  n.pprev = null;
}

/** hlist_is_singular_node(): n is the only node of h. */
export function hlist_is_singular_node<T extends HlistNode<T>>(n: T, h: HlistHead<T>): boolean {
  return n.next === null && n.pprev === h;
}

/** The links of an id hlist: nodes are ids (0 is NULL), next[id] and prev[id] in typed arrays
 * (the arrays may be replaced as the slab grows, so they are read through their owner). */
export interface IdHlistLinks {
  readonly hnext: Int32Array;
  readonly hprev: Int32Array;
}

/** An id hlist's head: the first node's id, 0 for none. */
export interface IdHlistHead {
  hlist: number;
}

/** hlist_add_head() for an id hlist. */
export function id_hlist_add_head(l: IdHlistLinks, id: number, h: IdHlistHead): void {
  const first = h.hlist;
  l.hprev[id] = 0;
  l.hnext[id] = first;
  if (first !== 0) l.hprev[first] = id;
  h.hlist = id;
}

/** hlist_del() for an id hlist (the head is needed where the kernel's pprev would point at it). */
export function id_hlist_del(l: IdHlistLinks, id: number, h: IdHlistHead): void {
  const prev = l.hprev[id];
  const next = l.hnext[id];
  if (prev !== 0) l.hnext[prev] = next;
  else h.hlist = next;
  if (next !== 0) l.hprev[next] = prev;
  l.hnext[id] = 0;
  l.hprev[id] = 0;
}
