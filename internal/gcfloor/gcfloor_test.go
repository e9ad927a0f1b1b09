package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name        string
		live, floor uint64
		want        int
	}{
		// 2.5 MB live, 64 MB floor: the minimum heap bounds it, goal 66.5 MB.
		{"small heap", 5 * mb / 2, 64 * mb, 1662},
		{"nothing live yet", 0, 64 * mb, 1600},
		// 32 MB live: the live heap bounds it, goal 96 MB.
		{"middle heap", 32 * mb, 64 * mb, 200},
		// A large cache: GOGC=100's goal (twice live) is already higher.
		{"large heap", 900 * mb, 64 * mb, 100},
		{"exactly the floor", 64 * mb, 64 * mb, 100},
	} {
		if got := Percent(c.live, c.floor); got != c.want {
			t.Errorf("%s: Percent(%d, %d) = %d, want %d", c.name, c.live, c.floor, got, c.want)
		}
	}
}

var sink []byte

// heapGoal returns the garbage collector's current heap goal.
func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// churn allocates n bytes of garbage in 8 KiB pieces and returns how many
// collections ran meanwhile.
func churn(n int) uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumGC
	for i := 0; i < n/8192; i++ {
		sink = make([]byte, 8192)
	}
	runtime.ReadMemStats(&ms)
	return ms.NumGC - before
}

// The tests change the process's GC percentage, so none runs in parallel.

func TestFloorSpacesCollections(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set in the environment, where Start does nothing by design (TestGOGCIsTheOperatorsChoice)")
	}
	runtime.GC()
	const garbage = 512 << 20
	stop := Start(64 << 20)
	with := churn(garbage)
	goalWith := heapGoal()
	stop()
	runtime.GC()
	goalWithout := heapGoal()
	// 512 MB of garbage over a heap of well under 4 MB live: about one
	// cycle every 64 MB with the floor, against one every 4-8 MB at the
	// default percentage. The count without the floor is not compared: on
	// a busy machine the heap overshoots its goal while a cycle marks, and
	// fewer cycles run; the goal itself says what the floor did.
	if with > 16 {
		t.Errorf("with a 64 MB floor: %d collections for 512 MB of garbage, want at most 16", with)
	}
	if goalWith < 64<<20 || goalWithout >= 32<<20 {
		t.Errorf("heap goal %d MB with the floor and %d MB after it stopped, want at least 64 and under 32", goalWith>>20, goalWithout>>20)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("after stop the percentage is %d, want the 100 it was before", p)
	}
}

func TestFloorRetunesAfterEachCollection(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set in the environment, where Start does nothing by design (TestGOGCIsTheOperatorsChoice)")
	}
	tuned := make(chan int, 64)
	stop := start(64<<20, func(p int) {
		select {
		case tuned <- p:
		default:
		}
	})
	defer stop()
	// waitFor collects until a tuning after a collection sets want.
	waitFor := func(want int, what string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			runtime.GC()
			select {
			case p := <-tuned:
				if p == want {
					return
				}
			case <-deadline:
				t.Fatalf("%s: no tuning to %d within 10 s", what, want)
			}
		}
	}
	// 96 MB live: the floor gives way to the default goal (twice live).
	live := make([][]byte, 96)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	waitFor(100, "96 MB live")
	runtime.KeepAlive(live)
	live = nil
	// The 96 MB gone, a small live heap gets a high percentage again.
	deadline := time.After(10 * time.Second)
	for {
		runtime.GC()
		select {
		case p := <-tuned:
			if p > 1000 {
				return
			}
		case <-deadline:
			t.Fatal("the 96 MB gone: the percentage was not raised again within 10 s")
		}
	}
}

func currentPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestGOGCIsTheOperatorsChoice(t *testing.T) {
	t.Setenv("GOGC", "100")
	var tunings atomic.Int32
	stop := start(64<<20, func(int) { tunings.Add(1) })
	defer stop()
	// A running tuner tunes once in start itself and again after every
	// collection; wait for a finalizer queued after those collections, so
	// that a tuner's would have run by then too.
	runtime.GC()
	finalized := make(chan struct{})
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) { close(finalized) })
	runtime.GC()
	select {
	case <-finalized:
	case <-time.After(10 * time.Second):
		t.Fatal("no finalizer ran within 10 s of two collections")
	}
	if n := tunings.Load(); n != 0 {
		t.Fatalf("GOGC set: the percentage was tuned %d times, want never", n)
	}
	if p := currentPercent(); p != 100 {
		t.Fatalf("GOGC set: the percentage is %d, want 100 left alone", p)
	}
}
