using Freshet.DataPlane.Runtime;

namespace Freshet.DataPlane.Tests.Runtime;

public sealed class WorkerAgentOptionsTests
{
    [Fact]
    public void Defaults_AreValidWithoutAControlPlane() => new WorkerAgentOptions().Validate(requireControlPlane: false);

    [Fact]
    public void Validate_StandaloneWorkerWithoutControlPlaneSettings_NamesEachSetting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new WorkerAgentOptions { ControlPlane = { Url = "not a url" } }.Validate(requireControlPlane: true));

        Assert.Contains("Freshet:Worker:ControlPlane:Url must be an absolute http(s) URL", error.Message, StringComparison.Ordinal);
        Assert.Contains("Freshet:Worker:ControlPlane:ClientId must be set", error.Message, StringComparison.Ordinal);
        Assert.Contains("Freshet:Worker:ControlPlane:ClientSecret must be set", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 60, 1.5, "Freshet:Worker:Capacity must be at least 1")]
    [InlineData(8, 0, 1.5, "Freshet:Worker:DrainTimeout must be positive")]
    [InlineData(8, 60, -1, "Freshet:Worker:LeaseSafetyMargin must not be negative")]
    public void Validate_SettingThatCannotWork_NamesIt(int capacity, int drainSeconds, double marginSeconds, string complaint)
    {
        var options = new WorkerAgentOptions
        {
            Capacity = capacity,
            DrainTimeout = TimeSpan.FromSeconds(drainSeconds),
            LeaseSafetyMargin = TimeSpan.FromSeconds(marginSeconds),
        };

        var error = Assert.Throws<InvalidOperationException>(() => options.Validate(requireControlPlane: false));

        Assert.Contains(complaint, error.Message, StringComparison.Ordinal);
    }
}
