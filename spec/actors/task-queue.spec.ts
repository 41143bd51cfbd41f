import * as assert from 'uvu/assert'
import { TaskQueue } from '../../actors/task-queue.js'
import { suite } from '../harness.js'

const t = suite('TaskQueue')

interface T { name: string; priority: number; queued: boolean }
const task = (name: string, priority: number): T => ({ name, priority, queued: false })

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

t.test('100 000 tasks over 10 priorities come out in order', () => {
  const q = new TaskQueue<T>()
  for (let i = 0; i < 100_000; i++) q.push(task(String(i), i % 10))
  let last = { p: Infinity, i: -1 }
  for (let heads = q.heads(); heads.length > 0; heads = q.heads()) {
    const head = heads[0]!
    q.take(head)
    const i = Number(head.name)
    assert.ok(head.priority < last.p || (head.priority === last.p && i > last.i))
    last = { p: head.priority, i }
  }
})

t.run()
