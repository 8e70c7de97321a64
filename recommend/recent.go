package recommend

// RecentHead is how many of the latest item's best neighbours lead a
// user's list answered from recent items, as the Spark Streaming
// recommender puts the top 5 similar to the latest click at the head.
const RecentHead = 5

// SetRecent gives a model the users' recent items, latest first, the
// streaming job's (AppendRecent answers from them). It is called while
// the model is built, before it is served.
func (m *Model) SetRecent(recent map[string][]string) { m.recent = recent }

// HasRecent reports whether the model answers users from recent items:
// SetRecent was called, even with none yet.
func (m *Model) HasRecent() bool { return m.recent != nil }

// AppendRecent answers a user from their recent items, appended to
// dst[:0]: the RecentHead best neighbours of the latest item first, then
// the item-CF scoring of all of them (Recommend's, weight 1 each), the
// user's items left out, topped up from the popular list (the job's hot
// list) to n. A user without recent items (or whose items the model
// lists nothing for) gets the popular list (Fallback). The head's scores
// are similarities, the rest's sums of them, the popular items' user
// counts: the list is in that order, not by score.
func (m *Model) AppendRecent(dst []Scored, user string, n int) Result {
	out := dst[:0]
	if n <= 0 {
		return Result{Items: out}
	}
	a := m.scratch.Get().(*accumulator)
	defer m.scratch.Put(a)
	defer a.reset()
	items := m.recent[user]
	for _, it := range items {
		if id, ok := m.ids[it]; ok && a.flag[id]&flagSeen == 0 {
			m.add(a, id, 1, 0)
		}
	}
	if len(items) > 0 {
		if latest, ok := m.ids[items[0]]; ok {
			for k := m.off[latest]; k < m.off[latest+1] && len(out) < min(RecentHead, n); k++ {
				if j := m.nbr[k]; a.flag[j]&flagSeen == 0 {
					out = append(out, Scored{m.items[j], m.sim[k]})
					a.seen, a.flag[j] = append(a.seen, j), a.flag[j]|flagSeen // not again below
				}
			}
		}
	}
	if len(out) < n {
		out = a.top(m, out, Options{N: n - len(out)})
	}
	scored := len(out)
	out = m.fallback(a, out, Options{N: n})
	return Result{Items: out, Popular: len(out) - scored, Fallback: scored == 0}
}
