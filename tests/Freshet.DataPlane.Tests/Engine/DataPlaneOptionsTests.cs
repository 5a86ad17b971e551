namespace Freshet.DataPlane.Tests.Engine;

public sealed class DataPlaneOptionsTests
{
    [Fact]
    public void Defaults_AreValid() => new DataPlaneOptions().Validate();

    [Theory]
    [InlineData(8, 1024, 1, "DuckDbMemoryLimitMb must be at least 16")]
    [InlineData(256, 128, 1, "DuckDbMaxMemoryLimitMb (128) must be at least DuckDbMemoryLimitMb (256)")]
    [InlineData(64, 1024, 0, "DuckDbThreads must be at least 1")]
    public void DuckDbSettingsThatCannotWork_StopTheWorkerWithTheSettingsName(int limit, int max, int threads, string complaint)
    {
        var options = new DataPlaneOptions { DuckDbMemoryLimitMb = limit, DuckDbMaxMemoryLimitMb = max, DuckDbThreads = threads };

        var error = Assert.Throws<InvalidOperationException>(options.Validate);

        Assert.Contains(complaint, error.Message, StringComparison.Ordinal);
    }
}
