using Bunit;
using Freshet.Console.Api;
using Freshet.Console.Components.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;

namespace Freshet.Console.Tests.Components.Pipelines;

public sealed class MetricsGridTests
{
    private static readonly DateTimeOffset From = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);

    private static MetricPoint Point(DateTimeOffset at, double lag, double rows) => new(at, lag, lag * 2, null, rows, rows * 100, 0);

    [Fact]
    public void StepsWithoutAReport_AreGaps_InTheirPlaceInTime()
    {
        // An hour in 10-minute steps; reports only in the first and the fourth step.
        var metrics = new PipelineMetrics(From, From.AddHours(1), 600, [Point(From, 1.5, 40), Point(From.AddMinutes(30), 3, 0)]);

        var grid = MetricsGrid.Lay(metrics, From, From.AddHours(1));

        Assert.Equal(["10:00", "10:10", "10:20", "10:30", "10:40", "10:50"], grid.Labels);
        Assert.Equal([1.5, null, null, 3, null, null], grid.Lag);
        Assert.Equal([3, null, null, 6, null, null], grid.LagMax);
        // A report of zero rows is a zero, not a gap.
        Assert.Equal([40, null, null, 0, null, null], grid.RowsPerSecond);
    }

    [Fact]
    public void AWindowNotOnAStepBoundary_StartsAtTheStepHoldingItsStart_AndLongWindowsNameTheDay()
    {
        var from = From.AddMinutes(7);
        var metrics = new PipelineMetrics(from, from.AddDays(7), 86_400, [Point(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero), 10, 5)]);

        var grid = MetricsGrid.Lay(metrics, from, from.AddDays(7));

        Assert.Equal("12-05 00:00", grid.Labels[0]);
        Assert.Equal(8, grid.Labels.Length);
        Assert.Equal(10, grid.Lag[2]);
        Assert.Equal(7, grid.Lag.Count(v => v is null));
    }

    [Fact]
    public async Task TheGridDrawsAsALineChart_WithGaps()
    {
        await using var context = new BunitContext();
        context.Services.AddMudServices();
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        var points = Enumerable.Range(0, 360).Where(i => i % 7 != 0).Select(i => Point(From.AddSeconds(10 * i), i % 30, i)).ToList();
        var grid = MetricsGrid.Lay(new PipelineMetrics(From, From.AddHours(1), 10, points), From, From.AddHours(1));

        var cut = context.Render<MudChart<double>>(p => p
            .Add(c => c.ChartType, ChartType.Line)
            .Add(c => c.ChartSeries, [new ChartSeries<double> { Name = "Lag", Data = new ChartData<double>(grid.Lag) }])
            .Add(c => c.ChartLabels, grid.Labels)
            .Add(c => c.ChartOptions, new LineChartOptions { XAxisLabelInterval = 60, ConnectNullPoints = false }));

        Assert.Equal(360, grid.Labels.Length);
        // Every seventh step is missing, so the line is drawn in pieces: one move (M) per piece, 52 pieces.
        var line = cut.FindAll("path.mud-chart-line").Select(p => p.GetAttribute("d") ?? "").Single(d => d.Length > 0);
        Assert.Equal(52, line.Count(c => c == 'M'));
        // The axis is labelled every 60 steps (10 minutes), not at every step.
        Assert.Equal(["10:00", "10:10", "10:20", "10:30", "10:40", "10:50"], cut.FindAll(".mud-charts-xaxis text").Select(t => t.TextContent).ToArray());
    }
}
