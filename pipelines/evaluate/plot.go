package main

import (
	"cmp"
	"fmt"
	"image/color"
	"slices"
	"strings"

	"github.com/recsys/itemsim/internal/pngfile"
	"github.com/recsys/itemsim/model"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// family groups the settings a plot draws as one line: the measure, and
// for cosine its user weighting and whether it is asymmetric.
func family(s model.Similarity) string {
	parts := []string{string(s.Measure)}
	if s.Weighting != model.WeightNone {
		parts = append(parts, string(s.Weighting))
	}
	if s.Alpha != 0.5 {
		parts = append(parts, "asymmetric")
	}
	return strings.Join(parts, " ")
}

// plot draws nDCG against the neighbours used per training item, a panel
// per normalisation and a line per family, each point the family's best
// setting (shrinkage, α, top_n) there, and the popularity baseline.
func (r SweepResult) plot(path string) error {
	var neighbors []int
	var normalize []bool
	var families []string
	for _, row := range r.Rows {
		neighbors = append(neighbors, row.Neighbors)
		normalize = append(normalize, row.Normalize)
		families = append(families, family(row.Setting.Similarity))
	}
	// Ascending, 0 (whole lists) last.
	slices.SortFunc(neighbors, func(a, b int) int { return cmp.Compare(uint(a-1), uint(b-1)) })
	neighbors = slices.Compact(neighbors)
	slices.SortFunc(normalize, func(a, b bool) int { return cmp.Compare(b2i(a), b2i(b)) })
	normalize = slices.Compact(normalize)
	slices.Sort(families)
	families = slices.Compact(families)

	// The panels share the y range, so that their heights compare.
	top := r.Popular.NDCG
	for _, row := range r.Rows {
		top = max(top, row.Model.NDCG)
	}
	ticks := make(plot.ConstantTicks, len(neighbors))
	for x, n := range neighbors {
		ticks[x] = plot.Tick{Value: float64(x), Label: "all"}
		if n > 0 {
			ticks[x].Label = fmt.Sprint(n)
		}
	}
	var panels []panel
	for _, norm := range normalize {
		p := panel{title: fmt.Sprintf("normalize %v", norm), xLabel: "neighbours used per training item",
			yLabel: fmt.Sprintf("nDCG@%d (best setting)", r.K), xTicks: ticks, yMin: 0, yMax: top * 1.05}
		for f, name := range families {
			xys := plotter.XYs{}
			for x, n := range neighbors {
				best, found := 0.0, false
				for _, row := range r.Rows {
					if row.Neighbors == n && row.Normalize == norm && family(row.Setting.Similarity) == name {
						best, found = max(best, row.Model.NDCG), true
					}
				}
				if found {
					xys = append(xys, plotter.XY{X: float64(x), Y: best})
				}
			}
			p.lines = append(p.lines, series{name: name, xys: xys, colour: f})
		}
		p.lines = append(p.lines, series{name: "popular", dashes: dashed,
			xys: plotter.XYs{{X: 0, Y: r.Popular.NDCG}, {X: float64(len(neighbors) - 1), Y: r.Popular.NDCG}}})
		panels = append(panels, p)
	}
	return drawPanels(path, panels)
}

// series is one line of a panel: in the palette's colour number colour
// with that number's point shape, or, with dashes, a reference line in
// grey without points.
type series struct {
	name   string
	xys    plotter.XYs
	colour int
	dashes []vg.Length
}

// The reference lines' patterns.
var (
	dashed = []vg.Length{vg.Points(4), vg.Points(3)}
	dotted = []vg.Length{vg.Points(1), vg.Points(2)}
)

// panel is one plot of a figure, its y axis from yMin to yMax; xTicks nil
// takes gonum's ticks.
type panel struct {
	title, xLabel, yLabel string
	xTicks                plot.Ticker
	yMin, yMax            float64
	lines                 []series
}

// Figure geometry: the image is len(panels)·panelWidth + legendWidth wide
// and figureHeight high.
const panelWidth, legendWidth, figureHeight = 4.5 * vg.Inch, 2.2 * vg.Inch, 4 * vg.Inch

// drawPanels draws panels side by side on a white background, with one
// legend on the right naming the first panel's lines, as a PNG at path.
func drawPanels(path string, panels []panel) error {
	width := panelWidth*vg.Length(len(panels)) + legendWidth
	img := vgimg.New(width, figureHeight)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	for k, pn := range panels {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = pn.title, pn.xLabel, pn.yLabel
		if pn.xTicks != nil {
			p.X.Tick.Marker = pn.xTicks
		}
		p.Add(plotter.NewGrid())
		for _, s := range pn.lines {
			if s.dashes != nil {
				l, err := plotter.NewLine(s.xys)
				if err != nil {
					return err
				}
				l.Color, l.Dashes = color.Gray{Y: 100}, s.dashes
				p.Add(l)
				if k == 0 {
					legend.Add(s.name, l)
				}
				continue
			}
			l, pts, err := plotter.NewLinePoints(s.xys)
			if err != nil {
				return err
			}
			c := palette[s.colour%len(palette)]
			l.Color, pts.Color, pts.Shape = c, c, plotutil.Shape(s.colour)
			l.Width = vg.Points(1.5)
			p.Add(l, pts)
			if k == 0 {
				legend.Add(s.name, l, pts)
			}
		}
		// After the lines, which widen the range to their data: a line
		// leaving the range is clipped.
		p.Y.Min, p.Y.Max = pn.yMin, pn.yMax
		left := panelWidth * vg.Length(k)
		p.Draw(draw.Crop(dc, left, left+panelWidth-width, 0, 0))
	}
	legend.Draw(draw.Crop(dc, width-legendWidth+vg.Points(4), 0, 0, -0.3*vg.Inch))
	return pngfile.Write(path, img)
}

// palette tells a dozen lines apart (Tableau's ten, then two more).
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, color.RGBA{0xbc, 0xbd, 0x22, 0xff},
	color.RGBA{0x17, 0xbe, 0xcf, 0xff}, color.RGBA{0x00, 0x00, 0x00, 0xff}, color.RGBA{0x6b, 0x8e, 0x23, 0xff},
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
