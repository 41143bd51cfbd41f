import * as assert from 'uvu/assert'
import { TaskQueue } from '../../actors/task-queue.js'
import { stillReachable, suite } from '../harness.js'

const t = suite('TaskQueue')

interface T { name: string; priority: number; queued: boolean; order: number }
const task = (name: string, priority: number): T => ({ name, priority, queued: false, order: 0 })

function takeAll(q: TaskQueue<T>): string[] {
  const out: string[] = []
  for (let heads = q.heads(); heads.length > 0; heads = q.heads()) {
    q.take(heads[0]!)
    out.push(heads[0]!.name)
  }
  return out
}

t.test('higher priority first, FIFO among equals, any numbers', () => {
  const q = new TaskQueue<T>()
  for (const [name, p] of [['a', 0], ['b', 5], ['c', -1], ['d', 5], ['e', 2.5], ['f', 0]] as const) q.push(task(name, p))
  assert.is(q.size, 6)
  assert.equal(takeAll(q), ['b', 'd', 'e', 'a', 'f', 'c'])
  assert.is(q.size, 0)
})

t.test('pushFront puts a task before its equals only', () => {
  const q = new TaskQueue<T>()
  q.push(task('a', 1))
  q.push(task('high', 9))
  q.pushFront(task('again', 1))
  assert.equal(takeAll(q), ['high', 'again', 'a'])
})

t.test('removed tasks are skipped and empty levels vanish from heads()', () => {
  const q = new TaskQueue<T>()
  const a = task('a', 3)
  const b = task('b', 3)
  q.push(a)
  q.push(b)
  q.push(task('low', 0))
  q.remove(a)
  q.remove(a) // twice is harmless
  assert.is(q.size, 2)
  assert.equal(q.heads().map((h) => h.name), ['b', 'low'])
  q.remove(b)
  assert.equal(q.heads().map((h) => h.name), ['low'])
  assert.throws(() => q.take(b), /not at the head/)
})

t.test('once nothing waits, marked tasks are dropped at once and new ones queue as usual', () => {
  const q = new TaskQueue<T>()
  const a = task('a', 1)
  const b = task('b', 1)
  const c = task('c', 5)
  for (const x of [a, b, c]) q.push(x)
  q.remove(b)
  q.take(c)
  q.take(a) // the last one waiting: b, marked, goes with it
  assert.is(q.size, 0)
  assert.equal(q.heads(), [])
  q.push(task('d', 1))
  q.pushFront(task('e', 1))
  q.remove(b) // already gone: harmless
  assert.is(q.size, 2)
  assert.equal(takeAll(q), ['e', 'd'])
})

t.test('100 000 tasks over 10 priorities and 3 names come out in order', () => {
  const q = new TaskQueue<T & { i: number }>()
  for (let i = 0; i < 100_000; i++) q.push({ ...task(`name${i % 3}`, i % 10), i })
  let last = { p: Infinity, i: -1 }
  for (let heads = q.heads(); heads.length > 0; heads = q.heads()) {
    const head = heads[0]!
    q.take(head)
    assert.ok(head.priority < last.p || (head.priority === last.p && head.i > last.i))
    last = { p: head.priority, i: head.i }
  }
})

t.test('each name has its own head; heads of one priority come in order of arrival', () => {
  const q = new TaskQueue<T>()
  const evalA = task('eval', 1)
  const evalB = task('eval', 1)
  const add = task('add', 1)
  const urgent = task('add', 5)
  for (const x of [evalA, evalB, add, urgent]) q.push(x)
  assert.equal(q.heads(), [urgent, evalA, add]) // evalB waits behind evalA, not behind add
  q.take(add) // an add may go while the evals wait
  assert.equal(q.heads(), [urgent, evalA])
  const requeued = task('add', 1)
  q.pushFront(requeued)
  assert.equal(q.heads(), [urgent, requeued, evalA])
})

t.test('each task gets back the payload it left, through removals, compaction and pushFront', () => {
  const q = new TaskQueue<T & { i: number }>()
  const payloadOf = (i: number): Uint8Array | undefined => (i % 7 === 0 ? undefined : Uint8Array.from({ length: 1 + (i % 11) }, (_, j) => (i + j) & 0xff))
  const tasks = Array.from({ length: 3000 }, (_, i) => ({ ...task(`name${i % 2}`, i % 3), i }))
  for (const x of tasks) q.push(x, payloadOf(x.i))
  // remove most of one stretch (the rings compact) and a scatter elsewhere (skipped at the head)
  for (const x of tasks) if ((x.i > 500 && x.i < 2000 && x.i % 4 !== 0) || x.i % 13 === 0) q.remove(x)
  const requeued = { ...task('name0', 2), i: -1 }
  q.pushFront(requeued)
  let taken = 0
  for (let heads = q.heads(); heads.length > 0; heads = q.heads()) {
    const head = heads[heads.length - 1]! // the lowest priority first: the rings drain in every order
    const payload = q.take(head)
    assert.equal(payload, head.i < 0 ? undefined : payloadOf(head.i), `task ${head.i}`)
    taken++
  }
  assert.is(taken, 1 + tasks.filter((x) => !((x.i > 500 && x.i < 2000 && x.i % 4 !== 0) || x.i % 13 === 0)).length)
})

t.test('tasks removed behind one that waits are let go, not held until it leaves', async () => {
  const q = new TaskQueue<T>()
  q.push(task('stuck', 1))
  const churn = (): WeakRef<T>[] => Array.from({ length: 1000 }, () => {
    const x = task('stuck', 1)
    q.push(x)
    q.remove(x)
    return new WeakRef(x)
  })
  const held = await stillReachable(churn())
  // a ring compacts once more than COMPACT_AFTER (64), and more than half, of it is marked
  assert.ok(held <= 130, `${held} of 1000 removed tasks still held`)
  assert.is(q.size, 1)
  assert.is(q.heads()[0]?.name, 'stuck')
})

t.test('tasks removed under ever new names or priorities leave nothing behind', async () => {
  const q = new TaskQueue<T>()
  q.push(task('stuck', 1))
  const churn = (): WeakRef<T>[] => Array.from({ length: 1000 }, (_, i) => {
    const x = i % 2 === 0 ? task(`name${i}`, 1) : task('other', i)
    q.push(x)
    q.remove(x)
    return new WeakRef(x)
  })
  const held = await stillReachable(churn())
  assert.is(held, 0, `${held} of 1000 removed tasks still held`)
  assert.equal(q.heads().map((h) => h.name), ['stuck'])
})

t.run()
