package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"

	"github.com/recsys/itemsim/internal/pngfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// series is one named line of a plot.
type series struct {
	name string
	xys  plotter.XYs
}

// chart is one PNG: a panel, or panels side by side sharing the legend
// (drawn right of the data, never over it).
type chart struct {
	file, title, x, y string
	logX, logY        bool
	// xTicks, when set, are the x axis's labelled ticks.
	xTicks []float64
	lines  []series
	// more are further panels beside this one, with the same lines' names.
	more []chart
}

// plots draws the figures of r into dir and returns the files written
// (a figure without data is left out).
func plots(dir string, r *Results) ([]string, error) {
	byThreshold := func(file, title, y string, logY bool, value func(*ThresholdResult) float64) chart {
		c := chart{file: file, title: title, x: "DIMSUM threshold (0 = exact)", y: y, logY: logY}
		for _, d := range r.Datasets {
			s := series{name: d.Name}
			for _, t := range d.Runs {
				s.xys = append(s.xys, plotter.XY{X: t.Threshold, Y: value(t)})
			}
			c.lines = append(c.lines, s)
		}
		return c
	}
	charts := []chart{
		byThreshold("time_vs_threshold.png", "Pipeline wall time", "wall time (s)", true,
			func(t *ThresholdResult) float64 { return t.Pipeline.WallSec }),
		byThreshold("pairs_vs_threshold.png", "Pairs emitted by the workers", "pairs emitted", true,
			func(t *ThresholdResult) float64 { return float64(t.InProcess.PairsEmitted) }),
		byThreshold("overlap_vs_threshold.png", fmt.Sprintf("Top-%d overlap with exact", r.TopN), "mean overlap", false,
			func(t *ThresholdResult) float64 { return t.Overlap }),
	}

	// Time and memory against the synthetic sets' sizes.
	bySize := func(file, title, y string, value func(Proc) float64) chart {
		c := chart{file: file, title: title, x: "interactions (synthetic)", y: y, logX: true, logY: true}
		lines := map[string]*series{}
		var order []string
		add := func(name string, x int, p Proc) {
			if lines[name] == nil {
				lines[name] = &series{name: name}
				order = append(order, name)
			}
			lines[name].xys = append(lines[name].xys, plotter.XY{X: float64(x), Y: value(p)})
		}
		for _, d := range r.Datasets {
			if d.Interactions == 0 {
				continue
			}
			for _, t := range d.Runs {
				if t.Threshold == 0 || t.Threshold == 0.1 {
					add(fmt.Sprintf("pipeline t=%g", t.Threshold), d.Interactions, t.Pipeline)
				}
			}
			add("pandas peer", d.Interactions, d.Pandas)
			add("Go single-process", d.Interactions, d.GoExact)
		}
		for _, name := range order {
			c.lines = append(c.lines, *lines[name])
		}
		return c
	}
	charts = append(charts,
		bySize("time_vs_size.png", "Wall time against input size", "wall time (s)", func(p Proc) float64 { return p.WallSec }),
		bySize("rss_vs_size.png", "Peak RSS against input size", "peak RSS (MiB)", func(p Proc) float64 { return p.MaxRSSMiB }))

	if s := r.Scaling; s != nil && len(s.Points) > 0 {
		charts = append(charts, scalingCharts(s)...)
	}
	var files []string
	for _, c := range charts {
		if !c.hasData() {
			continue
		}
		if err := c.save(filepath.Join(dir, c.file)); err != nil {
			return nil, fmt.Errorf("%s: %v", c.file, err)
		}
		files = append(files, c.file)
	}
	return files, nil
}

func (c chart) hasData() bool {
	for _, s := range c.lines {
		if len(s.xys) > 0 {
			return true
		}
	}
	return false
}

// legendWidth is the strip right of the panels that holds the legend.
const legendWidth = 1.6 * vg.Inch

// save draws c's panels side by side and the legend right of them.
func (c chart) save(path string) error {
	panels := append([]chart{c}, c.more...)
	width := 6*vg.Inch*vg.Length(len(panels)) + legendWidth
	if len(panels) > 1 {
		width = 4.2*vg.Inch*vg.Length(len(panels)) + legendWidth
	}
	img := vgimg.New(width, 4.5*vg.Inch)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	legend := plot.NewLegend()
	legend.Left, legend.Top = true, true
	panelWidth := (width - legendWidth) / vg.Length(len(panels))
	for k, pc := range panels {
		p, err := pc.plot(&legend, k == 0)
		if err != nil {
			return err
		}
		left := panelWidth * vg.Length(k)
		p.Draw(draw.Crop(dc, left, -(width - left - panelWidth), 0, 0))
	}
	area := draw.Crop(dc, width-legendWidth+4, 0, 0, -0.6*vg.Inch)
	legend.Draw(area)
	return pngfile.Write(path, img)
}

// plot builds one panel; the first panel adds its lines to legend.
func (c chart) plot(legend *plot.Legend, addLegend bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text, p.Y.Label.Text = c.x, c.y
	if c.logX {
		p.X.Scale = plot.LogScale{}
	}
	if c.logY {
		p.Y.Scale = plot.LogScale{}
	}
	p.Add(plotter.NewGrid())
	for k, s := range c.lines {
		var xys plotter.XYs
		for _, xy := range s.xys {
			if (!c.logX || xy.X > 0) && (!c.logY || xy.Y > 0) { // a log axis has no 0
				xys = append(xys, xy)
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(k), plotutil.Color(k), plotutil.Shape(k)
		l.Dashes = plotutil.Dashes(k)
		l.Width = vg.Points(1.5)
		p.Add(l, pts)
		if addLegend {
			legend.Add(s.name, l, pts)
		}
	}
	// A single point leaves a log axis an empty range, which gonum would
	// pad to include 0: give it a decade around the point instead.
	for _, ax := range []struct {
		a   *plot.Axis
		log bool
	}{{&p.X, c.logX}, {&p.Y, c.logY}} {
		if ax.log && ax.a.Min == ax.a.Max && ax.a.Min > 0 {
			ax.a.Min, ax.a.Max = ax.a.Min/2, ax.a.Max*2
		}
	}
	p.X.Tick.Marker = ticks(c.logX, c.xTicks)
	p.Y.Tick.Marker = ticks(c.logY, nil)
	return p, nil
}

// ticks labels fixed values when given, else 1-2-5 steps on a log axis
// (every decade's 1, 2 and 5, so that a range within a decade still has
// several labels) or gonum's default on a linear one.
func ticks(log bool, fixed []float64) plot.Ticker {
	if len(fixed) > 0 {
		t := make(plot.ConstantTicks, len(fixed))
		for k, v := range fixed {
			t[k] = plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)}
		}
		return t
	}
	if !log {
		return plot.DefaultTicks{}
	}
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		var out []plot.Tick
		labelled := 0
		for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
			for m := 1; m <= 9; m++ {
				v := float64(m) * math.Pow(10, e)
				if v < lo || v > hi {
					continue
				}
				label := ""
				if m == 1 || m == 2 || m == 5 {
					label = humanize(v)
					labelled++
				}
				out = append(out, plot.Tick{Value: v, Label: label})
			}
		}
		if labelled < 3 { // a narrow range: label every tick
			for k := range out {
				out[k].Label = humanize(out[k].Value)
			}
		}
		return out
	})
}

// humanize writes 2000000 as 2M, 50000 as 50k, 0.5 as 0.5.
func humanize(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 3, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// scalingCharts draws the sampling series: pairs emitted against users
// (log-log), the same relative to exact, and the share of entries dropped,
// side by side; then shuffle bytes.
func scalingCharts(s *ScalingResult) []chart {
	var factors []float64
	for _, pt := range s.Points {
		factors = append(factors, float64(pt.Factor))
	}
	x := fmt.Sprintf("users (1× = %s)", humanize(float64(s.BaseUsers)))
	panel := func(title, y string, logY bool, value func(pt ScalePoint, k int) (float64, bool)) chart {
		c := chart{title: title, x: x, y: y, logX: true, logY: logY, xTicks: factors}
		for k, t := range s.Thresholds {
			line := series{name: fmt.Sprintf("t=%g", t)}
			if t == 0 {
				line.name = "exact (t=0)"
			}
			for _, pt := range s.Points {
				if v, ok := value(pt, k); ok {
					line.xys = append(line.xys, plotter.XY{X: float64(pt.Factor), Y: v})
				}
			}
			c.lines = append(c.lines, line)
		}
		return c
	}
	pairs := panel("Pairs emitted", "pairs", true, func(pt ScalePoint, k int) (float64, bool) {
		return float64(pt.Runs[k].InProcess.PairsEmitted), true
	})
	relative := panel("Pairs emitted / exact", "share of the exact pairs", false, func(pt ScalePoint, k int) (float64, bool) {
		return float64(pt.Runs[k].InProcess.PairsEmitted) / float64(pt.Runs[0].InProcess.PairsEmitted), true
	})
	dropped := panel("Entries dropped", "% of the scored entries", false, func(pt ScalePoint, k int) (float64, bool) {
		in := pt.Runs[k].InProcess
		return 100 * float64(in.EntriesDropped) / float64(in.EntriesDropped+in.EntriesKept), true
	})
	pairs.file = "scaling_pairs.png"
	pairs.title = fmt.Sprintf("Pairs emitted, %d items", s.Items)
	pairs.more = []chart{relative, dropped}
	// The shuffle figures are the pipeline's counters, left out where they
	// lost updates.
	shuffle := panel(fmt.Sprintf("Shuffle bytes (partial rows), %d items", s.Items), "MB", true, func(pt ScalePoint, k int) (float64, bool) {
		return float64(pt.Runs[k].PartialBytes) / 1e6, pt.Runs[k].CountersAgree
	})
	shuffle.file = "scaling_shuffle.png"
	return []chart{pairs, shuffle}
}
