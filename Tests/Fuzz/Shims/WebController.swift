// Stand-in for the members of SpyglassWeb's `WebController` that `EventView` names (its attachment rows and the
// trace's log lines, which the view model's initializer leaves empty): the fuzz build compiles EventView.swift
// without Hummingbird.
enum WebController {
    struct AttachmentRow {}
    struct TraceLogs {}
}
