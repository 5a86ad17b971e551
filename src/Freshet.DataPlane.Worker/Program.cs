using Freshet.DataPlane.Worker;

return await WorkerCommands.RunAsync(args);
